package replicator_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/replicatortest"
	"github.com/pbxtopo/pbxtopo/store"
)

// views is a membership a test changes while the replicators run.
type views struct {
	mu sync.Mutex
	v  []replicator.ClusterView
}

func (m *views) Clusters() []replicator.ClusterView {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]replicator.ClusterView(nil), m.v...)
}
func (m *views) Changed() <-chan struct{} { return nil }

func (m *views) setAlive(name string, alive bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.v {
		if m.v[i].Name == name {
			m.v[i].Alive = alive
		}
	}
}

// stallingTransport holds every pull to one address until the test ends:
// a peer that accepted the connection and never answers.
type stallingTransport struct {
	*replicatortest.InmemTransport
	mu      sync.Mutex
	stall   map[string]bool
	stalled int // pulls held so far
}

func (s *stallingTransport) setStall(addr string, on bool) {
	s.mu.Lock()
	s.stall[addr] = on
	s.mu.Unlock()
}

func (s *stallingTransport) Pull(ctx context.Context, addr string, req *replicator.PullRequest) (*replicator.PullResponse, error) {
	s.mu.Lock()
	stalled := s.stall[addr]
	if stalled {
		s.stalled++
	}
	s.mu.Unlock()
	if stalled {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.InmemTransport.Pull(ctx, addr, req)
}

type meshNode struct {
	name string
	st   *store.Store
	tr   *stallingTransport
	rep  *replicator.Replicator
}

// runMesh runs the replicators' own loops of the named clusters over
// in-memory transports, every one connected to every other.
func runMesh(t *testing.T, mode replicator.Mode, members *views, names ...string) []*meshNode {
	t.Helper()
	return runMeshWith(t, mode, members, func(*replicator.Config) {}, names...)
}

// runMeshWith is runMesh with a change to every replicator's config.
func runMeshWith(t *testing.T, mode replicator.Mode, members *views, configure func(*replicator.Config), names ...string) []*meshNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var nodes []*meshNode
	for i, name := range names {
		members.v = append(members.v, replicator.ClusterView{Name: name, Alive: true, Addrs: []string{"repl-" + name}})
		sc := store.DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
		sc.Replica = name
		st, err := store.Open(sc)
		if err != nil {
			t.Fatal(err)
		}
		tr := &stallingTransport{InmemTransport: replicatortest.NewInmemTransport("repl-"+name, int64(i)), stall: map[string]bool{}}
		nodes = append(nodes, &meshNode{name: name, st: st, tr: tr})
	}
	for _, n := range nodes {
		rc := replicator.DefaultConfig(n.name, "")
		rc.Default = replicator.Topology{Mode: mode, Order: names}
		// Anti-entropy only after the test: a mesh link carries its peer's
		// own changes, so news of a stalled peer arrives only in the
		// summaries the others send.
		rc.PullWait, rc.AntiEntropy, rc.RetryMin, rc.RetryMax = 100*time.Millisecond, time.Hour, 5*time.Millisecond, 50*time.Millisecond
		configure(&rc)
		rep, err := replicator.New(rc, replicator.Deps{Store: n.st, Transport: n.tr, Membership: members})
		if err != nil {
			t.Fatal(err)
		}
		n.rep = rep
		n.tr.Serve(rep)
		for _, o := range nodes {
			if o != n {
				n.tr.Connect(o.tr.LocalAddr(), o.tr.InmemTransport)
			}
		}
	}
	for _, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.rep.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, n := range nodes {
			n.st.Close()
		}
	})
	return nodes
}

func linkOf(r *replicator.Replicator, peer string) (replicator.LinkStatus, bool) {
	for _, l := range r.Status() {
		if l.Peer == peer {
			return l, true
		}
	}
	return replicator.LinkStatus{}, false
}

func has(st *store.Store, key string) bool {
	found := false
	st.View(func(sn *store.Snapshot) error {
		r, _ := sn.Get("extensions", key)
		found = r != nil && r.Exists()
		return nil
	})
	return found
}

// TestStalledLinkShowsWhatItMisses: a's link to b hangs (b accepted the
// pull and never answers) while b writes; c takes b's change and tells a,
// in its summary, that b holds it. Until a has the change, its link to b
// must count it behind (it showed 0: behind was what b said at its last
// answer), with the seconds it has been so.
func TestStalledLinkShowsWhatItMisses(t *testing.T) {
	members := &views{}
	n := runMesh(t, replicator.Mesh, members, "a", "b", "c")
	a, b, c := n[0], n[1], n[2]
	testutil.Eventually(t, 5*time.Second, "a's link to b connected", func() bool {
		l, _ := linkOf(a.rep, "b")
		return l.State == replicator.LinkConnected
	})
	a.tr.setStall(b.tr.LocalAddr(), true)
	testutil.Eventually(t, 5*time.Second, "a's pull from b hangs", func() bool {
		a.tr.mu.Lock()
		defer a.tr.mu.Unlock()
		return a.tr.stalled > 0
	})
	if _, err := b.st.Write(context.Background(), "test", []store.Mutation{{Table: "extensions", Key: "b/1",
		Value: pbx.Fields{"name": "made at b"}.AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "c holds b's change", func() bool { return has(c.st, "b/1") })
	testutil.Eventually(t, 5*time.Second, "a counts b's change behind", func() bool {
		l, _ := linkOf(a.rep, "b")
		return l.Behind == 1 && l.SecondsBehind > 0
	})
	if has(a.st, "b/1") {
		t.Fatal("a got b's change although its link to b is stalled and anti-entropy is off")
	}
	if l, _ := linkOf(a.rep, "c"); l.Behind != 0 {
		t.Fatalf("a's link to c counts %d behind: c has nothing of its own that a lacks", l.Behind)
	}
	a.tr.setStall(b.tr.LocalAddr(), false)
}

// TestStatusListsEveryPeer: a peer that membership reports dead stays in
// the status, as dead, with what it is known to have; in a ring, the
// clusters a replica does not pull from directly show as indirect.
func TestStatusListsEveryPeer(t *testing.T) {
	members := &views{}
	n := runMesh(t, replicator.Ring, members, "a", "b", "c")
	a := n[0]
	testutil.Eventually(t, 5*time.Second, "a pulls from its predecessor c", func() bool {
		l, _ := linkOf(a.rep, "c")
		return l.State == replicator.LinkConnected
	})
	l, ok := linkOf(a.rep, "b")
	if !ok || l.State != replicator.LinkIndirect {
		t.Fatalf("b at a (ring a→b→c): %+v, want indirect", l)
	}
	members.setAlive("c", false)
	testutil.Eventually(t, 5*time.Second, "a shows c dead and pulls from b", func() bool {
		lc, okc := linkOf(a.rep, "c")
		lb, _ := linkOf(a.rep, "b")
		return okc && lc.State == replicator.LinkDead && lb.State == replicator.LinkConnected
	})
	if got := len(a.rep.Status()); got != 2 {
		t.Fatalf("a lists %d peers, want b and c", got)
	}
}

// TestLagHistoryRecordsAStalledLink: the replicator's own loop samples
// its links' lag; while a's link to b is stalled and b has written, the
// samples show b one change and a growing number of seconds behind, and
// c in sync.
func TestLagHistoryRecordsAStalledLink(t *testing.T) {
	members := &views{}
	n := runMeshWith(t, replicator.Mesh, members, func(c *replicator.Config) { c.LagSample = 50 * time.Millisecond }, "a", "b", "c")
	a, b, c := n[0], n[1], n[2]
	testutil.Eventually(t, 5*time.Second, "a's link to b connected", func() bool {
		l, _ := linkOf(a.rep, "b")
		return l.State == replicator.LinkConnected
	})
	a.tr.setStall(b.tr.LocalAddr(), true)
	defer a.tr.setStall(b.tr.LocalAddr(), false)
	testutil.Eventually(t, 5*time.Second, "a's pull from b hangs", func() bool {
		a.tr.mu.Lock()
		defer a.tr.mu.Unlock()
		return a.tr.stalled > 0
	})
	if _, err := b.st.Write(context.Background(), "test", []store.Mutation{{Table: "extensions", Key: "b/1",
		Value: pbx.Fields{"name": "made at b"}.AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "c holds b's change", func() bool { return has(c.st, "b/1") })
	var behind []replicator.LagSample
	testutil.Eventually(t, 10*time.Second, "two samples with b behind", func() bool {
		behind = behind[:0]
		for _, s := range a.rep.LagHistory() {
			if s.Peers["b"].Changes == 1 {
				behind = append(behind, s)
			}
		}
		return len(behind) >= 2
	})
	first, last := behind[0], behind[len(behind)-1]
	if !last.Time.After(first.Time) || last.Peers["b"].Seconds <= first.Peers["b"].Seconds {
		t.Fatalf("b's lag does not grow: %+v then %+v", first, last)
	}
	if l := last.Peers["c"]; l.Changes != 0 || l.Seconds != 0 {
		t.Fatalf("c in the last sample: %+v, want in sync", l)
	}
	hist := a.rep.LagHistory()
	for i := 1; i < len(hist); i++ {
		if hist[i].Time.Sub(hist[i-1].Time) < 50*time.Millisecond {
			t.Fatalf("samples %v and %v are closer than LagSample", hist[i-1].Time, hist[i].Time)
		}
	}
}
