package chaos

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

func TestDebugMany(t *testing.T) {
	var failed []*Report
	var all []*Report
	from := int64(100)
	if v := os.Getenv("FROM"); v != "" {
		fmt.Sscan(v, &from)
	}
	for seed := from; seed < from+30; seed++ {
		for _, mode := range replicator.Modes {
			dir := fmt.Sprintf("/tmp/chdbg/%s-%d", mode, seed)
			os.RemoveAll(dir)
			rep, err := Run(Config{Seed: seed, Clusters: 2 + int(seed)%9, Mode: mode, Duration: 30 * time.Second, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, rep)
			if !rep.OK() {
				failed = append(failed, rep)
			}
		}
	}
	logReports(t, all...)
	if len(failed) > 0 {
		t.Fatalf("%d failed", len(failed))
	}
}
