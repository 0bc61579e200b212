package replicator

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// freeGossipAddr returns a loopback address free for TCP and UDP.
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	for try := 0; try < 20; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no free gossip port")
	return ""
}

// gossipNode is one member with its data directory, restartable.
type gossipNode struct {
	cfg SerfConfig
	s   *Serf
}

func startGossip(t *testing.T, name, cluster string, grace time.Duration) *gossipNode {
	t.Helper()
	n := &gossipNode{cfg: SerfConfig{Node: name, BindAddr: freeGossipAddr(t), Tags: map[string]string{TagCluster: cluster},
		ProbeInterval: 100 * time.Millisecond, SuspicionMult: 2, RestartGrace: grace,
		SnapshotPath: filepath.Join(t.TempDir(), "serf.snapshot")}}
	n.start(t)
	t.Cleanup(func() { n.s.Close() })
	return n
}

func (n *gossipNode) start(t *testing.T) {
	t.Helper()
	var err error
	if n.s, err = NewSerf(n.cfg); err != nil {
		t.Fatal(err)
	}
}

func (n *gossipNode) statuses() map[string]string {
	out := map[string]string{}
	for _, m := range n.s.Members() {
		out[m.Node] = m.Status
	}
	return out
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCleanRestartRejoinsWithoutJoinList: the first node of an enterprise
// has no join list (the others joined it). A clean stop is a restart, not
// a departure: meanwhile the others count it as restarting and its cluster
// as up; started again, it rejoins from its snapshot. It used to stay
// alone for good, and the others saw it "left".
func TestCleanRestartRejoinsWithoutJoinList(t *testing.T) {
	a := startGossip(t, "a", "tpa1", time.Minute)
	b := startGossip(t, "b", "sfo", time.Minute)
	c := startGossip(t, "c", "lon", time.Minute)
	for _, n := range []*gossipNode{b, c} {
		if _, err := n.s.Join([]string{a.cfg.BindAddr}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "a sees three members alive", func() bool {
		s := a.statuses()
		return s["b"] == "alive" && s["c"] == "alive"
	})
	if err := a.s.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b sees a restarting", func() bool { return b.statuses()["a"] == StatusRestarting })
	if !b.s.Up("tpa1") {
		t.Fatal("tpa1 is down at b while its only node restarts")
	}
	a.start(t)
	waitFor(t, 10*time.Second, "a, restarted without a join list, sees b and c again", func() bool {
		s := a.statuses()
		return s["b"] == "alive" && s["c"] == "alive"
	})
	waitFor(t, 10*time.Second, "b and c see a alive again", func() bool {
		return b.statuses()["a"] == "alive" && c.statuses()["a"] == "alive"
	})
	waitFor(t, 5*time.Second, "a's fresh tags reach b", func() bool {
		for _, m := range b.s.Members() {
			if m.Node == "a" {
				return m.Tags[TagStopping] == ""
			}
		}
		return false
	})
}

// TestCrashAndGraceEnd: a node gone without a word (a crash) is down as
// soon as it is found failed; one that stopped cleanly is down once the
// grace ends.
func TestCrashAndGraceEnd(t *testing.T) {
	a := startGossip(t, "a", "tpa1", 500*time.Millisecond)
	b := startGossip(t, "b", "sfo", 500*time.Millisecond)
	c := startGossip(t, "c", "lon", 500*time.Millisecond)
	for _, n := range []*gossipNode{b, c} {
		if _, err := n.s.Join([]string{a.cfg.BindAddr}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "all alive", func() bool { s := a.statuses(); return s["b"] == "alive" && s["c"] == "alive" })
	c.s.Close() // a crash: no word to the others
	waitFor(t, 5*time.Second, "c failed at a", func() bool { return a.statuses()["c"] == "failed" })
	if a.s.Up("lon") {
		t.Fatal("lon is up at a after its only node crashed")
	}
	changed := a.s.Changed()
	b.s.Stop()
	waitFor(t, 5*time.Second, "b restarting at a", func() bool { return a.statuses()["b"] == StatusRestarting })
	if !a.s.Up("sfo") {
		t.Fatal("sfo is down while its node restarts")
	}
	<-changed
	waitFor(t, 5*time.Second, "the grace ends", func() bool { return !a.s.Up("sfo") })
	if st := a.statuses()["b"]; st != "failed" {
		t.Fatalf("b after the grace: %s", st)
	}
}
