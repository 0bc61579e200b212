package chaos

import (
	"fmt"
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

// TestFixedSeeds runs a fixed set of campaigns over every mode and every
// fault kind; each seed replays exactly, so a failure here is a
// reproducible bug: rerun it with 'pbxtopo chaos run --seed S --mode M
// --clusters N'.
func TestFixedSeeds(t *testing.T) {
	seeds := []int64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, mode := range replicator.Modes {
		for _, seed := range seeds {
			clusters := 3 + int(seed)%3*2 // 3, 5, 7
			t.Run(fmt.Sprintf("%s/seed=%d/clusters=%d", mode, seed, clusters), func(t *testing.T) {
				rep, err := Run(Config{Seed: seed, Clusters: clusters, Mode: mode, Duration: 15 * time.Second, Dir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK() {
					logReports(t, rep)
					t.Fatalf("seed %d failed", rep.Seed)
				}
				if rep.Acked == 0 || rep.Messages == 0 {
					t.Fatalf("nothing happened: %+v", rep)
				}
			})
		}
	}
}

// TestCheckerCatchesDivergence breaks one replica behind replication's back
// and expects the checkers to say so: a checker that cannot fail proves
// nothing.
func TestCheckerCatchesDivergence(t *testing.T) {
	sim, err := NewSim(SimConfig{Seed: 3, Clusters: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	h := &History{}
	for i := 0; i < 30; i++ {
		sim.RandomWrite(h, 5)
		sim.RunFor(100 * time.Millisecond)
	}
	sim.RunFor(2 * time.Second)
	if ok, why := sim.Converged(); !ok {
		t.Fatalf("not converged: %s", why)
	}
	if res := sim.Check(h); !res.OK() {
		t.Fatalf("clean run flagged: %v", res.Problems)
	}
	// An acknowledged write that never happened: the checker must call it lost.
	h.Writes = append(h.Writes, &Write{ID: len(h.Writes) + 1, Node: "c0", Table: enterpriseTable, Key: "k99", Acked: true})
	if res := sim.Check(h); res.Lost != 1 {
		t.Fatalf("an acknowledged write missing from every replica: lost = %d, want 1", res.Lost)
	}
}
