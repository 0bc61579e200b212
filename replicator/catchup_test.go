package replicator_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/replicatortest"
	"github.com/pbxtopo/pbxtopo/store"
)

// countingTransport records the largest pull answer it received and, once
// it has passed on stopAfter answers with changes, holds every later pull
// until its caller gives up (the node is about to crash).
type countingTransport struct {
	*replicatortest.InmemTransport
	stopAfter int
	onPull    func(*replicator.PullRequest) // called as each pull is sent

	mu         sync.Mutex
	answers    int // answers with changes passed on
	maxChanges int // the most changes in one answer
}

func (c *countingTransport) Pull(ctx context.Context, addr string, req *replicator.PullRequest) (*replicator.PullResponse, error) {
	if c.onPull != nil {
		c.onPull(req)
	}
	c.mu.Lock()
	hold := c.stopAfter > 0 && c.answers >= c.stopAfter
	c.mu.Unlock()
	if hold {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	resp, err := c.InmemTransport.Pull(ctx, addr, req)
	if err == nil && len(resp.Changes) > 0 {
		c.mu.Lock()
		c.answers++
		c.maxChanges = max(c.maxChanges, len(resp.Changes))
		c.mu.Unlock()
	}
	return resp, err
}

func (c *countingTransport) largest() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxChanges
}

// catchUpNode is one cluster's store on disk and its replicator's own loop.
type catchUpNode struct {
	st     *store.Store
	tr     *countingTransport
	cancel context.CancelFunc
	done   chan struct{}
}

// startCatchUpNode opens the store at path and runs a mesh replicator of
// cluster name on it, reachable at "repl-"+name.
func startCatchUpNode(t *testing.T, name, path string, members *views, stopAfter int) *catchUpNode {
	t.Helper()
	return startCatchUpNodeWith(t, name, path, members, stopAfter, func(st *store.Store, tr *countingTransport) replicator.Store { return st })
}

// startCatchUpNodeWith is startCatchUpNode with the replicator's store
// made by wrap.
func startCatchUpNodeWith(t *testing.T, name, path string, members *views, stopAfter int, wrap func(*store.Store, *countingTransport) replicator.Store) *catchUpNode {
	t.Helper()
	sc := store.DefaultConfig(path)
	sc.Replica = name
	st, err := store.Open(sc)
	if err != nil {
		t.Fatal(err)
	}
	rc := replicator.DefaultConfig(name, "")
	rc.Default = replicator.Topology{Mode: replicator.Mesh, Order: []string{"a", "b"}}
	// A small batch: each answer carries one transaction, however small.
	rc.MaxBatchBytes = 16 << 10
	rc.PullWait, rc.RetryMin, rc.RetryMax = 100*time.Millisecond, 5*time.Millisecond, 50*time.Millisecond
	tr := &countingTransport{InmemTransport: replicatortest.NewInmemTransport("repl-"+name, 1), stopAfter: stopAfter}
	rep, err := replicator.New(rc, replicator.Deps{Store: wrap(st, tr), Transport: tr, Membership: members})
	if err != nil {
		t.Fatal(err)
	}
	tr.Serve(rep)
	ctx, cancel := context.WithCancel(context.Background())
	n := &catchUpNode{st: st, tr: tr, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(n.done); rep.Run(ctx) }()
	return n
}

// stop ends the replicator's loop and closes the store, as a crash or a
// shutdown leaves it: what was committed is on disk, nothing else.
func (n *catchUpNode) stop() {
	n.cancel()
	<-n.done
	n.st.Close()
}

func connect(a, b *catchUpNode) {
	a.tr.Connect(b.tr.LocalAddr(), b.tr.InmemTransport)
	b.tr.Connect(a.tr.LocalAddr(), a.tr.InmemTransport)
}

// An import larger than one logged transaction reaches a replica that
// missed it in answers of at most store.MaxTxChanges changes, each applied
// in its own store transaction: the replica's memory is bounded by the
// batch, not by the import. A replica stopped in the middle keeps what it
// committed (its summary says exactly that) and, started again on the same
// file, takes the rest and ends with the same records and digests.
func TestLargeImportCatchUpResumesAfterACrash(t *testing.T) {
	dir := t.TempDir()
	members := &views{v: []replicator.ClusterView{{Name: "a", Alive: true, Addrs: []string{"repl-a"}}, {Name: "b", Alive: true, Addrs: []string{"repl-b"}}}}
	a := startCatchUpNode(t, "a", filepath.Join(dir, "a.db"), members, 0)
	defer a.stop()
	n := 2*store.MaxTxChanges + store.MaxTxChanges/2
	importExtensions(t, a.st, n)
	stream := a.st.Summary()
	if len(stream) != 1 {
		t.Fatalf("a's summary %v: want one stream", stream)
	}

	bPath := filepath.Join(dir, "b.db")
	b := startCatchUpNode(t, "b", bPath, members, 2)
	connect(a, b)
	testutil.Eventually(t, 20*time.Second, "b to apply two answers of the import (or all of it)", func() bool {
		b.tr.mu.Lock()
		answers := b.tr.answers
		b.tr.mu.Unlock()
		return answers >= 2 || maps.Equal(a.st.Summary(), b.st.Summary())
	})
	largest := b.tr.largest()
	b.stop()
	if largest > store.MaxTxChanges {
		t.Fatalf("one pull answer carried %d changes of the %d-row import: a catch-up holds the whole import at once (want at most %d)", largest, n, store.MaxTxChanges)
	}

	// What b committed before it stopped: whole transactions, and its
	// summary covers exactly the records it holds.
	sc := store.DefaultConfig(bPath)
	sc.Replica = "b"
	st, err := store.Open(sc)
	if err != nil {
		t.Fatal(err)
	}
	var held int
	st.View(func(sn *store.Snapshot) error { held = sn.Count("extensions"); return nil })
	var covered uint64
	for s, seq := range st.Summary() {
		if s.Cluster() == "a" {
			covered = seq
		}
	}
	st.Close()
	if held == 0 || held >= n || uint64(held) != covered || held%store.MaxTxChanges != 0 {
		t.Fatalf("after the stop b holds %d records and its summary covers %d of a's %d: want whole transactions of %d, fewer than all", held, covered, n, store.MaxTxChanges)
	}

	b = startCatchUpNode(t, "b", bPath, members, 0)
	defer b.stop()
	connect(a, b)
	testutil.Eventually(t, 30*time.Second, "b to hold the whole import with a's digests", func() bool {
		return maps.Equal(a.st.Summary(), b.st.Summary()) && sameDigestsOf(a.st, b.st)
	})
	b.st.View(func(sn *store.Snapshot) error { held = sn.Count("extensions"); return nil })
	if held != n {
		t.Fatalf("b holds %d records, want %d", held, n)
	}
}

// slowApplyStore holds each apply until the replicator has sent a pull
// that asks for what follows it (or a few seconds have passed).
type slowApplyStore struct {
	*store.Store
	ahead      chan struct{} // closed at the first pull ahead of the store
	overlapped atomic.Bool   // an apply saw that pull while it was held
}

func (s *slowApplyStore) Apply(ctx context.Context, changes []*store.Change) (store.ApplyResult, error) {
	select {
	case <-s.ahead:
		s.overlapped.Store(true)
	case <-time.After(5 * time.Second):
	}
	return s.Store.Apply(ctx, changes)
}

// A link that is behind sends its next pull while it applies the last
// answer, so a catch-up waits for the peer and for its own commits at
// once: here the first apply is held until a pull asking for what follows
// it arrives at the transport, which the loop used to send only after the
// apply.
func TestBehindLinkPullsWhileApplying(t *testing.T) {
	dir := t.TempDir()
	members := &views{v: []replicator.ClusterView{{Name: "a", Alive: true, Addrs: []string{"repl-a"}}, {Name: "b", Alive: true, Addrs: []string{"repl-b"}}}}
	a := startCatchUpNode(t, "a", filepath.Join(dir, "a.db"), members, 0)
	defer a.stop()
	n := 3 * store.MaxTxChanges
	importExtensions(t, a.st, n)
	var slow *slowApplyStore
	b := startCatchUpNodeWith(t, "b", filepath.Join(dir, "b.db"), members, 0, func(st *store.Store, tr *countingTransport) replicator.Store {
		slow = &slowApplyStore{Store: st, ahead: make(chan struct{})}
		var once sync.Once
		tr.onPull = func(req *replicator.PullRequest) {
			mine := st.Summary()
			for s, seq := range req.Summary {
				if seq > mine[s] {
					once.Do(func() { close(slow.ahead) })
				}
			}
		}
		return slow
	})
	defer b.stop()
	connect(a, b)
	testutil.Eventually(t, 60*time.Second, "b to hold the whole import with a's digests", func() bool {
		return maps.Equal(a.st.Summary(), b.st.Summary()) && sameDigestsOf(a.st, b.st)
	})
	if !slow.overlapped.Load() {
		t.Fatalf("no pull for what follows an answer was sent while the answer was applied: the link waits for its commits and its peer in turn")
	}
}

func sameDigestsOf(a, b *store.Store) bool {
	var da, db map[string]store.Digest
	a.View(func(sn *store.Snapshot) error { da, _ = sn.Digests(); return nil })
	b.View(func(sn *store.Snapshot) error { db, _ = sn.Digests(); return nil })
	return len(da) > 0 && maps.Equal(da, db)
}

// importExtensions writes n new extensions to st in one write, as an
// import does.
func importExtensions(t *testing.T, st *store.Store, n int) {
	t.Helper()
	muts := make([]store.Mutation, n)
	for i := range muts {
		key := fmt.Sprintf("tpa1/%d", 100000+i)
		muts[i] = store.Mutation{Table: "extensions", Key: key, Value: pbx.Fields{"name": "User " + key}.AppendBinary(nil)}
	}
	if _, err := st.Write(bg, "import", muts); err != nil {
		t.Fatal(err)
	}
}
