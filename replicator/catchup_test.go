package replicator_test

import (
	"context"
	"fmt"
	"maps"
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

// countingTransport records the largest pull answer it received and, once
// it has passed on stopAfter answers with changes, holds every later pull
// until its caller gives up (the node is about to crash).
type countingTransport struct {
	*replicatortest.InmemTransport
	stopAfter int

	mu         sync.Mutex
	answers    int // answers with changes passed on
	maxChanges int // the most changes in one answer
}

func (c *countingTransport) Pull(ctx context.Context, addr string, req *replicator.PullRequest) (*replicator.PullResponse, error) {
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
	rep, err := replicator.New(rc, replicator.Deps{Store: st, Transport: tr, Membership: members})
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
	muts := make([]store.Mutation, n)
	for i := range muts {
		key := fmt.Sprintf("tpa1/%d", 100000+i)
		muts[i] = store.Mutation{Table: "extensions", Key: key, Value: pbx.Fields{"name": "User " + key}.AppendBinary(nil)}
	}
	if _, err := a.st.Write(bg, "import", muts); err != nil {
		t.Fatal(err)
	}
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

func sameDigestsOf(a, b *store.Store) bool {
	var da, db map[string]store.Digest
	a.View(func(sn *store.Snapshot) error { da, _ = sn.Digests(); return nil })
	b.View(func(sn *store.Snapshot) error { db, _ = sn.Digests(); return nil })
	return len(da) > 0 && maps.Equal(da, db)
}
