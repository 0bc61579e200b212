package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

func logReports(t *testing.T, reps ...*Report) {
	t.Helper()
	var b strings.Builder
	PrintReports(&b, reps)
	t.Log("\n" + b.String())
}

func TestCampaignSmoke(t *testing.T) {
	for _, mode := range replicator.Modes {
		t.Run(string(mode), func(t *testing.T) {
			rep, err := Run(Config{Seed: 1, Clusters: 4, Mode: mode, Duration: 10 * time.Second, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			logReports(t, rep)
			if !rep.OK() {
				t.Fatalf("seed %d failed", rep.Seed)
			}
		})
	}
}
