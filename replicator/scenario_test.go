package replicator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/chaos"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

var bg = context.Background()

func newSim(t *testing.T, n int, mode replicator.Mode) *chaos.Sim {
	t.Helper()
	s, err := chaos.NewSim(chaos.SimConfig{Seed: 7, Clusters: n, Mode: mode, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func write(t *testing.T, s *chaos.Sim, i int, key, value string) store.Dot {
	t.Helper()
	var cur []store.Dot
	s.Node(i).View(func(sn *store.Snapshot) error {
		if r, _ := sn.Get("extensions", key); r != nil {
			cur = []store.Dot{r.Winner().Dot}
		}
		return nil
	})
	res, err := s.Node(i).Write(bg, "test", []store.Mutation{{Table: "extensions", Key: key,
		Value: pbx.Fields{"name": value}.AppendBinary(nil), IfMatch: cur}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Dots[0]
}

func read(t *testing.T, s *chaos.Sim, i int, key string) *store.Record {
	t.Helper()
	var r *store.Record
	s.Node(i).View(func(sn *store.Snapshot) error {
		var err error
		r, err = sn.Get("extensions", key)
		return err
	})
	return r
}

// converge runs the simulation until every replica holds the same data.
func converge(t *testing.T, s *chaos.Sim, within time.Duration) time.Duration {
	t.Helper()
	start := s.Now()
	for s.Now().Sub(start) < within {
		s.RunFor(50 * time.Millisecond)
		if ok, _ := s.Converged(); ok {
			return s.Now().Sub(start)
		}
	}
	_, why := s.Converged()
	t.Fatalf("not converged within %s: %s", within, why)
	return 0
}

func TestPartitionAndHealEveryMode(t *testing.T) {
	for _, mode := range replicator.Modes {
		t.Run(string(mode), func(t *testing.T) {
			s := newSim(t, 4, mode)
			writer := func(i int) int {
				if mode == replicator.Primary {
					return 0 // only the primary takes writes
				}
				return i
			}
			write(t, s, writer(0), "before", "all")
			converge(t, s, 5*time.Second)
			s.Partition([]int{0, 1}, []int{2, 3})
			write(t, s, writer(1), "left", "written in the left half")
			write(t, s, writer(3), "right", "written in the right half")
			s.RunFor(2 * time.Second)
			if r := read(t, s, 2, "left"); r != nil && mode != replicator.Primary {
				t.Fatal("a write crossed the partition")
			}
			s.Heal()
			took := converge(t, s, 10*time.Second)
			for i := 0; i < 4; i++ {
				for _, k := range []string{"before", "left", "right"} {
					if r := read(t, s, i, k); r == nil || !r.Exists() {
						t.Fatalf("%s lacks %s after the heal", s.Name(i), k)
					}
				}
			}
			t.Logf("%s: converged %s after the heal", mode, took)
		})
	}
}

func TestRingSkipsDeadMemberAndCatchesItUp(t *testing.T) {
	s := newSim(t, 5, replicator.Ring)
	write(t, s, 0, "k0", "v")
	converge(t, s, 5*time.Second)
	s.Crash(2) // c1's successor: the ring must route around c2
	for i := 0; i < 20; i++ {
		write(t, s, []int{0, 1, 3, 4}[i%4], fmt.Sprintf("during-%d", i), "v")
	}
	s.RunFor(3 * time.Second)
	for _, i := range []int{0, 1, 3, 4} {
		for j := 0; j < 20; j++ {
			if read(t, s, i, fmt.Sprintf("during-%d", j)) == nil {
				t.Fatalf("with c2 dead, %s lacks during-%d: the ring did not heal", s.Name(i), j)
			}
		}
	}
	if err := s.Restart(2); err != nil {
		t.Fatal(err)
	}
	converge(t, s, 10*time.Second)
	if read(t, s, 2, "during-19") == nil {
		t.Fatal("the returning member was not caught up")
	}
}

func TestConcurrentWritesOneConflictSameWinner(t *testing.T) {
	for _, mode := range []replicator.Mode{replicator.Ring, replicator.Mesh, replicator.Site} {
		t.Run(string(mode), func(t *testing.T) {
			s := newSim(t, 4, mode)
			write(t, s, 0, "sfo/5020", "Harold Fisher")
			converge(t, s, 5*time.Second)
			s.Partition([]int{0, 1}, []int{2, 3})
			write(t, s, 1, "sfo/5020", "Harold A. Fisher")
			write(t, s, 3, "sfo/5020", "Harry Fisher")
			s.Heal()
			converge(t, s, 10*time.Second)
			var winner store.Dot
			for i := 0; i < 4; i++ {
				r := read(t, s, i, "sfo/5020")
				if len(r.Versions) != 2 {
					t.Fatalf("%s holds %d versions, want 2 (one conflict)", s.Name(i), len(r.Versions))
				}
				if i == 0 {
					winner = r.Winner().Dot
				} else if r.Winner().Dot != winner {
					t.Fatalf("%s picked winner %s, %s picked %s", s.Name(i), r.Winner().Dot, s.Name(0), winner)
				}
			}
			// Resolving at one replica clears it everywhere.
			s.Node(2).Write(bg, "admin", []store.Mutation{{Table: "extensions", Key: "sfo/5020",
				Value: pbx.Fields{"name": "Harold Fisher"}.AppendBinary(nil), SupersedeAll: true}})
			converge(t, s, 5*time.Second)
			for i := 0; i < 4; i++ {
				if r := read(t, s, i, "sfo/5020"); r.Conflict() {
					t.Fatalf("%s still in conflict after the resolution", s.Name(i))
				}
			}
		})
	}
}

func TestDeleteNotResurrectedAfterPartition(t *testing.T) {
	s := newSim(t, 3, replicator.Mesh)
	write(t, s, 0, "k", "v1")
	converge(t, s, 5*time.Second)
	s.Isolate(2)
	if _, err := s.Node(0).Write(bg, "t", []store.Mutation{{Table: "extensions", Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	s.RunFor(time.Second)
	s.Heal()
	converge(t, s, 5*time.Second)
	for i := 0; i < 3; i++ {
		if r := read(t, s, i, "k"); r != nil && r.Exists() {
			t.Fatalf("%s resurrected k", s.Name(i))
		}
	}
}

func TestModeChangeWhileRunningLosesNothing(t *testing.T) {
	s := newSim(t, 4, replicator.Mesh)
	for i := 0; i < 10; i++ {
		write(t, s, i%4, fmt.Sprintf("a%d", i), "v")
	}
	// Switch to a ring in the opposite order, at one replica; the record
	// replicates and every replica follows it.
	topo := replicator.Topology{Mode: replicator.Ring, Order: []string{"c3", "c2", "c1", "c0"}}
	if _, err := s.Node(1).Write(bg, "admin", []store.Mutation{{Table: replicator.TopologyTable, Key: replicator.TopologyKey,
		Value: topo.Fields().AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		write(t, s, i%4, fmt.Sprintf("b%d", i), "v")
		s.RunFor(100 * time.Millisecond)
		for j := 0; j < 4; j++ {
			s.Replicator(j).RefreshTopology()
		}
	}
	converge(t, s, 10*time.Second)
	for j := 0; j < 4; j++ {
		if got := s.Replicator(j).Topology().Mode; got != replicator.Ring {
			t.Fatalf("%s runs %s, want ring", s.Name(j), got)
		}
		if src := s.Replicator(j).Sources(); len(src) != 1 {
			t.Fatalf("%s pulls from %d sources in ring mode", s.Name(j), len(src))
		}
		for i := 0; i < 10; i++ {
			if read(t, s, j, fmt.Sprintf("a%d", i)) == nil || read(t, s, j, fmt.Sprintf("b%d", i)) == nil {
				t.Fatalf("%s lost a write across the mode change", s.Name(j))
			}
		}
	}
}

func TestPrimaryModeRefusesReplicaWrites(t *testing.T) {
	s := newSim(t, 3, replicator.Primary)
	err := s.Replicator(1).CheckWrite("extensions")
	if !errors.Is(err, replicator.ErrReadOnlyReplica) || !containsAll(err.Error(), "c1 is a replica", "primary, cluster c0") {
		t.Fatalf("replica write = %v", err)
	}
	if err := s.Replicator(0).CheckWrite("extensions"); err != nil {
		t.Fatalf("primary write = %v", err)
	}
	if err := s.Replicator(1).CheckWrite(replicator.TopologyTable); err != nil {
		t.Fatalf("promotion refused on a replica: %v", err)
	}
	// The primary dies: replicas still serve what they have.
	write(t, s, 0, "k", "v")
	converge(t, s, 5*time.Second)
	s.Crash(0)
	if r := read(t, s, 1, "k"); r == nil {
		t.Fatal("a replica lost its data when the primary died")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestSameSeedReplaysTheSameRun(t *testing.T) {
	cfg := chaos.Config{Seed: 42, Clusters: 4, Mode: replicator.Mesh, Duration: 8 * time.Second}
	cfg.Dir = t.TempDir()
	a, err := chaos.Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = t.TempDir()
	b, err := chaos.Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.Dir, b.Dir = "", ""
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("same seed, different runs:\n%s\n%s", ja, jb)
	}
}

func del(t *testing.T, s *chaos.Sim, i int, key string) {
	t.Helper()
	r := read(t, s, i, key)
	if _, err := s.Node(i).Write(bg, "test", []store.Mutation{{Table: "extensions", Key: key, IfMatch: []store.Dot{r.Winner().Dot}}}); err != nil {
		t.Fatal(err)
	}
}

// TestLongPartitionKeepsTheCutOffWrites answers "a cluster cut off for a
// long time rejoins: what happens to the writes it acknowledged while cut
// off?" pbxtopo expels no one by itself (only 'repl decommission' does,
// and then refuses the cluster for good): while c2 is silent its old
// watermark holds back every tombstone purge, so when it returns its
// writes cross as any others, a deletion made meanwhile is not undone by
// its older copy, and its edit of the deleted record is a conflict.
func TestLongPartitionKeepsTheCutOffWrites(t *testing.T) {
	s, err := chaos.NewSim(chaos.SimConfig{Seed: 11, Clusters: 3, Mode: replicator.Mesh, Dir: t.TempDir(), Watermark: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, s, 0, "doomed", "v1")
	write(t, s, 0, "shared", "v1")
	converge(t, s, 10*time.Second)
	s.RunFor(3 * time.Second) // every watermark published
	s.Isolate(2)
	del(t, s, 0, "doomed")
	write(t, s, 2, "doomed", "edited while cut off")
	for i := 0; i < 20; i++ {
		write(t, s, 2, fmt.Sprintf("cut-off-%d", i), "v")
	}
	s.RunFor(2 * time.Minute) // many collection rounds at c0 and c1
	if r := read(t, s, 0, "doomed"); r == nil {
		t.Fatal("c0 purged a tombstone c2 never saw")
	}
	s.Heal()
	converge(t, s, 30*time.Second)
	for i := 0; i < 3; i++ {
		for j := 0; j < 20; j++ {
			if r := read(t, s, i, fmt.Sprintf("cut-off-%d", j)); r == nil || !r.Exists() {
				t.Fatalf("%s lacks cut-off-%d, acknowledged at c2 while it was cut off", s.Name(i), j)
			}
		}
		if r := read(t, s, i, "doomed"); r == nil || !r.Conflict() {
			t.Fatalf("%s: the delete at c0 and the edit at c2 made while apart are not a conflict: %+v", s.Name(i), r)
		}
	}
}

// TestPromoteDuringPartition answers "repl promote during a partition:
// how is the old primary fenced?" It is not, while it cannot hear of the
// promotion: each side keeps taking writes (a cut-off site stays
// writable). Once the partition heals the new topology reaches it and it
// refuses configuration writes; the new primary gathers from every live
// cluster, so what the old one took meanwhile is kept, and the same record
// written on both sides is a conflict, never a silent loss.
func TestPromoteDuringPartition(t *testing.T) {
	s := newSim(t, 3, replicator.Primary) // c0 is the primary
	write(t, s, 0, "both", "v1")
	converge(t, s, 10*time.Second)
	s.Partition([]int{0}, []int{1, 2})
	topo := s.Topology()
	topo.Primary = "c1"
	if _, err := s.Node(1).Write(bg, "admin", []store.Mutation{{Table: replicator.TopologyTable, Key: replicator.TopologyKey, Value: topo.Fields().AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	s.RunFor(2 * time.Second)
	for _, i := range []int{0, 1} { // as the agent's loop does every second
		if err := s.Replicator(i).RefreshTopology(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Replicator(0).CheckWrite("extensions"); err != nil {
		t.Fatalf("the old primary, cut off, refuses writes: %v", err)
	}
	if err := s.Replicator(1).CheckWrite("extensions"); err != nil {
		t.Fatalf("the new primary refuses writes: %v", err)
	}
	write(t, s, 0, "old-primary", "taken by c0 while cut off")
	write(t, s, 0, "both", "c0")
	write(t, s, 1, "new-primary", "taken by c1")
	write(t, s, 1, "both", "c1")
	s.Heal()
	converge(t, s, 30*time.Second)
	s.Replicator(0).RefreshTopology()
	if err := s.Replicator(0).CheckWrite("extensions"); !errors.Is(err, replicator.ErrReadOnlyReplica) {
		t.Fatalf("after the heal the old primary still takes writes: %v", err)
	}
	for i := 0; i < 3; i++ {
		for _, k := range []string{"old-primary", "new-primary"} {
			if r := read(t, s, i, k); r == nil || !r.Exists() {
				t.Fatalf("%s lacks %s", s.Name(i), k)
			}
		}
		if r := read(t, s, i, "both"); r == nil || !r.Conflict() {
			t.Fatalf("%s: the record written on both sides is not a conflict", s.Name(i))
		}
	}
}
