package chaos

import (
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

// startScenario starts a live enterprise for a scripted scenario: no
// random workload, no random faults; the test drives the workload's
// operations and the network itself, then finishes the campaign (heal,
// converge, check).
func startScenario(t *testing.T, cfg LiveConfig) *liveCampaign {
	t.Helper()
	cfg.Faults, cfg.Dir = []string{"none"}, t.TempDir()
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	c := newLiveCampaign(cfg)
	t.Cleanup(c.ent.close)
	if err := c.start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// finishScenario heals, waits for convergence and fails the test on a
// lost write or a read that went back.
func finishScenario(t *testing.T, c *liveCampaign) {
	t.Helper()
	if err := c.finish(); err != nil {
		t.Fatal(err)
	}
	if !c.rep.OK() {
		logReports(t, c.rep)
		t.Fatal("the scenario broke a guarantee")
	}
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// repl promote during a partition (issue 15, item 5b). c0 is the primary;
// it is cut off from c1 and c2, and c1 is promoted through c1. The old
// primary is not fenced: until it hears of the promotion it still takes
// writes, and acknowledges them. This pins down what becomes of them:
// nothing is lost. Once the partition heals the new primary gathers them
// (a primary pulls every origin from every live cluster), writes of one
// field made on both sides meanwhile stay as a conflict, and every node
// converges.
func TestLivePromoteDuringPartition(t *testing.T) {
	c := startScenario(t, LiveConfig{Seed: 21, Mode: replicator.Primary, Clusters: 3, Numbers: 2})
	e, w := c.ent, c.w
	oldPrimary, newPrimary := e.clusters[0], e.clusters[1]
	note := e.partition([]*liveCluster{oldPrimary}, []*liveCluster{newPrimary, e.clusters[2]})
	t.Log(note)
	promote := w.setTopology(newPrimary.leader(), "primary", newPrimary.name)
	if promote == nil || !promote.Acked {
		t.Fatalf("repl promote %s at %s: %v", newPrimary.name, newPrimary.name, promote)
	}
	waitUntil(t, "the promotion takes effect at c1 and c2", 10*time.Second, func() bool {
		for _, cl := range e.clusters[1:] {
			if cl.leader().parts.Load().rep.Topology().Primary != newPrimary.name {
				return false
			}
		}
		return true
	})
	nums := w.keys.list()
	oldN, newN := oldPrimary.leader(), newPrimary.leader()
	// The same field of one record on both sides (each with If-Match on
	// what it read), and different fields of another, blind.
	ops := []*liveOp{
		w.patch(oldN, nums[0], "name", false),
		w.patch(newN, nums[0], "name", false),
		w.patch(oldN, nums[1], "fullcontact", true),
		w.patch(newN, nums[1], "defaultuser", true),
	}
	for _, op := range ops {
		if op == nil {
			t.Fatal("an operation did not run")
		}
		t.Logf("%s", op)
	}
	if !ops[0].Acked || !ops[2].Acked {
		t.Logf("the old primary refused writes while cut off: it is fenced")
	} else {
		t.Logf("the old primary acknowledged writes while cut off: not fenced; they must survive")
	}
	if !ops[1].Acked || !ops[3].Acked {
		t.Fatalf("the new primary refused writes after its promotion")
	}
	finishScenario(t, c)
	if c.rep.ConflictsSeen == 0 {
		t.Fatalf("the same field written on both sides of the partition left no conflict")
	}
}
