package chaos

import (
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// runLive runs a live campaign and fails the test with the report when a
// guarantee broke. Live runs are seeded but not replayable (real time,
// Raft timers): a failure names the seed and keeps the history in the
// test's temp dir while the test runs; rerun with 'pbxtopo chaos run
// --live --seed S --mode M' to look again.
func runLive(t *testing.T, cfg LiveConfig) *Report {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	rep, err := RunLive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		logReports(t, rep)
		t.Fatalf("live campaign seed %d (%s) broke a guarantee", rep.Seed, rep.Mode)
	}
	if rep.Acked == 0 {
		t.Fatalf("nothing acknowledged: %+v", rep)
	}
	return rep
}

// TestLiveCheckerCatchesLostWrite: after a clean run, an acknowledged
// write that no node holds and no later write knew must be called lost,
// and a write whose value a later exclusive write knowingly replaced must
// not. A checker that cannot fail proves nothing.
func TestLiveCheckerCatchesLostWrite(t *testing.T) {
	cfg := LiveConfig{Seed: 5, Clusters: 2, Nodes: 2, Ops: []string{"patch-if-match", "create"}, Faults: []string{"none"},
		Duration: time.Second, Dir: t.TempDir()}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	c := newLiveCampaign(cfg)
	defer c.ent.close()
	if err := c.run(); err != nil {
		t.Fatal(err)
	}
	if !c.rep.OK() {
		logReports(t, c.rep)
		t.Fatal("the clean run failed")
	}
	ops := c.w.h.all()
	key := keyOf(c.ent.clusters[0].name, c.w.keys.list()[0])
	s := slot{"extensions", key, "name"}
	t0 := time.Now()
	ghost := &liveOp{ID: 100000, Kind: "patch", Node: "c0-1", Acked: true, Exclusive: true, Sets: map[slot]string{s: "ghost"},
		Sent: t0, Done: t0.Add(time.Millisecond)}
	if res := checkLive(c.ent, append(ops, ghost)); res.Lost != 1 {
		t.Fatalf("an acknowledged value no node holds: lost = %d, want 1 (%v)", res.Lost, res.Problems)
	}
	// The same value, replaced by a later exclusive write of that field
	// (acknowledged before it was sent): superseded, not lost.
	later := &liveOp{ID: 100001, Kind: "patch", Node: "c0-1", Acked: true, Exclusive: true, Sets: map[slot]string{s: "later"},
		Sent: t0.Add(2 * time.Millisecond), Done: t0.Add(3 * time.Millisecond)}
	if res := checkLive(c.ent, append(ops, ghost, later)); res.Lost != 1 {
		// "later" itself is not held either: it is the one lost now.
		t.Fatalf("a value knowingly replaced: lost = %d, want 1 (the replacement only): %v", res.Lost, res.Problems)
	}
	// A write concurrent with it (sent before it was acknowledged, with
	// no read of it) does not supersede it.
	concurrent := &liveOp{ID: 100002, Kind: "patch", Node: "c1-1", Acked: true, Exclusive: true, Sets: map[slot]string{s: "concurrent"},
		Sent: t0, Done: t0.Add(time.Millisecond)}
	if res := checkLive(c.ent, append(ops, ghost, concurrent)); res.Lost != 2 {
		t.Fatalf("two concurrent values no node holds: lost = %d, want 2: %v", res.Lost, res.Problems)
	}
}

// The pollers' rule: a version once replaced does not come back, an older
// version of an origin does not appear after a newer one, and a record
// read live does not vanish unless a delete of it was sent.
func TestPollerCatchesGoingBack(t *testing.T) {
	d := func(seq uint64) store.Dot { return store.Dot{Stream: "c0.0000000000000001", Seq: seq} }
	fresh := func() *pollState { return &pollState{seen: map[store.Dot]bool{}, newest: map[store.Stream]uint64{}} }
	cases := []struct {
		name  string
		reads [][]store.Dot // nil: absent
		del   bool          // a delete was sent
		want  int
	}{
		{"forward", [][]store.Dot{{d(1)}, {d(2)}, {d(2), d(5)}, {d(7)}}, false, 0},
		{"a replaced version is back", [][]store.Dot{{d(1)}, {d(2)}, {d(1)}}, false, 1},
		{"an older version appears", [][]store.Dot{{d(5)}, {d(3)}}, false, 1},
		{"vanishes without a delete", [][]store.Dot{{d(1)}, nil}, false, 1},
		{"vanishes after a delete", [][]store.Dot{{d(1)}, nil}, true, 0},
		{"absent, then created", [][]store.Dot{nil, {d(1)}}, false, 0},
	}
	for _, tc := range cases {
		st := fresh()
		got := 0
		for _, r := range tc.reads {
			got += len(st.see(r == nil, false, r, tc.del))
		}
		if got != tc.want {
			t.Errorf("%s: %d regressions, want %d", tc.name, got, tc.want)
		}
	}
}
