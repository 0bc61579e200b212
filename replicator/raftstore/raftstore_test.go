package raftstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

var bg = context.Background()

// node is one member of an in-process cluster over raft's in-memory
// transport, so tests can cut links.
type node struct {
	name  string
	dir   string
	local *store.Store
	rs    *Store
	trans *raft.InmemTransport
	stop  context.CancelFunc
}

type cluster struct {
	seed  func(*store.Store)
	t     *testing.T
	nodes []*node
	mu    sync.Mutex
	down  map[string]bool
}

func (c *cluster) Peers() []Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Peer
	for _, n := range c.nodes {
		out = append(out, Peer{Node: n.name, RaftAddr: string(n.trans.LocalAddr()), ReplAddr: n.name, Alive: !c.down[n.name]})
	}
	return out
}

// Forward delivers a follower's ops to the named leader in process.
func (c *cluster) Forward(ctx context.Context, addr string, ops []store.Op) ([]store.OpResult, error) {
	leader := c.live(addr)
	if leader == nil || !leader.IsLeader() {
		return nil, ErrNoLeader
	}
	return leader.ApplyAsLeader(ctx, ops)
}

func (c *cluster) ReadIndex(ctx context.Context, addr string) (uint64, error) {
	leader := c.live(addr)
	if leader == nil {
		return 0, ErrNoLeader
	}
	return leader.leaderReadIndex()
}

// live returns the running Raft store of the named node, or nil.
func (c *cluster) live(name string) *Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.name == name && !c.down[n.name] {
			return n.rs
		}
	}
	return nil
}

func newCluster(t *testing.T, n int, tune func(*Config, *Deps)) *cluster {
	return newSeededCluster(t, n, tune, nil)
}

// newSeededCluster lets seed write into the first node's store before
// Raft starts, as an admin seeding a store offline does.
func newSeededCluster(t *testing.T, n int, tune func(*Config, *Deps), seed func(*store.Store)) *cluster {
	t.Helper()
	c := &cluster{t: t, down: map[string]bool{}, seed: seed}
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("tpa1-%d", i+1)
		_, trans := raft.NewInmemTransport(raft.ServerAddress(name))
		c.nodes = append(c.nodes, &node{name: name, dir: filepath.Join(dir, name), trans: trans})
	}
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
	for _, nd := range c.nodes {
		c.start(nd, n, tune)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd.rs != nil {
				nd.stop()
				nd.rs.Close()
				nd.local.Close()
			}
		}
	})
	return c
}

func (c *cluster) start(nd *node, expect int, tune func(*Config, *Deps)) {
	c.t.Helper()
	sc := store.DefaultConfig(filepath.Join(nd.dir, "store.db"))
	sc.Replica = "tpa1"
	local, err := store.Open(sc)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.seed != nil && nd == c.nodes[0] && local.Stats().LSN == 0 {
		c.seed(local)
	}
	cfg := DefaultConfig(nd.name, "tpa1", filepath.Join(nd.dir, "raft"))
	cfg.Expect = expect
	deps := Deps{Store: local, Peers: c, Forwarder: c, Transport: nd.trans}
	if os.Getenv("RAFT_LOG") != "" {
		deps.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", nd.name)
	}
	if tune != nil {
		tune(&cfg, &deps)
	}
	rs, err := New(cfg, deps)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go rs.Run(ctx)
	c.mu.Lock()
	nd.local, nd.rs, nd.stop = local, rs, cancel
	delete(c.down, nd.name)
	c.mu.Unlock()
}

// kill stops a node as a crash does: Raft and the store close, nothing is
// handed over.
func (c *cluster) kill(nd *node) {
	c.mu.Lock()
	c.down[nd.name] = true
	c.mu.Unlock()
	for _, o := range c.nodes {
		o.trans.Disconnect(nd.trans.LocalAddr())
		nd.trans.Disconnect(o.trans.LocalAddr())
	}
	nd.stop()
	nd.rs.Close()
	nd.local.Close()
	c.mu.Lock()
	nd.rs = nil
	c.mu.Unlock()
}

func (c *cluster) revive(nd *node, expect int, tune func(*Config, *Deps)) {
	for _, o := range c.nodes {
		if o != nd {
			o.trans.Connect(nd.trans.LocalAddr(), nd.trans)
			nd.trans.Connect(o.trans.LocalAddr(), o.trans)
		}
	}
	c.start(nd, expect, tune)
}

func (c *cluster) leader(t *testing.T, within time.Duration) *node {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, nd := range c.nodes {
			if nd.rs != nil && nd.rs.IsLeader() {
				return nd
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no leader within %s", within)
	return nil
}

func put(ctx context.Context, nd *node, key string) error {
	_, err := nd.rs.Write(ctx, "test", []store.Mutation{{Table: "extensions", Key: key, Value: pbx.Fields{"k": key}.AppendBinary(nil)}})
	return err
}

func waitSame(t *testing.T, nodes []*node, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		same := true
		for _, nd := range nodes[1:] {
			same = same && nd.local.Summary().Equal(nodes[0].local.Summary())
		}
		if same {
			for _, nd := range nodes {
				if err := nd.local.Check(); err != nil {
					t.Fatalf("%s: %v", nd.name, err)
				}
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nodes did not converge within %s", within)
}

func TestWritesOnAnyNodeReachEveryNode(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader(t, 10*time.Second)
	for i, nd := range c.nodes {
		if err := put(bg, nd, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatalf("write at %s (leader %s): %v", nd.name, leader.name, err)
		}
	}
	waitSame(t, c.nodes, 5*time.Second)
	// A refused write is refused the same way on a follower.
	follower := c.nodes[0]
	if follower == leader {
		follower = c.nodes[1]
	}
	_, err := follower.rs.Write(bg, "t", []store.Mutation{{Table: "extensions", Key: "tpa1/0", Value: pbx.Fields{"a": "b"}.AppendBinary(nil), Must: store.MustNotExist}})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("forwarded refusal = %v, want ErrExists", err)
	}
	// Every node applied the same changes with the same dots.
	var want store.Summary
	for _, nd := range c.nodes {
		if want == nil {
			want = nd.local.Summary()
		} else if !nd.local.Summary().Equal(want) {
			t.Fatalf("%s: %v, want %v", nd.name, nd.local.Summary(), want)
		}
	}
}

// TestReadBarrierSeesAcknowledgedWrites reads on a follower right after
// each write through the leader: after ReadBarrier the write is there.
func TestReadBarrierSeesAcknowledgedWrites(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader(t, 10*time.Second)
	for i := 0; i < 30; i++ {
		key := fmt.Sprintf("tpa1/%d", 500+i)
		if err := put(bg, leader, key); err != nil {
			t.Fatal(err)
		}
		for _, nd := range c.nodes {
			if err := nd.rs.ReadBarrier(bg); err != nil {
				t.Fatalf("read barrier at %s: %v", nd.name, err)
			}
			var found bool
			nd.local.View(func(sn *store.Snapshot) error {
				r, err := sn.Get("extensions", key)
				found = err == nil && r != nil && r.Exists()
				return err
			})
			if !found {
				t.Fatalf("%s does not see %s after a read barrier", nd.name, key)
			}
		}
	}
}

func TestLeaderKilledDuringWritesLosesNothing(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader(t, 10*time.Second)
	var mu sync.Mutex
	var acked []string
	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				nd := c.nodes[(w+i)%3]
				if nd == leader || nd.rs == nil {
					continue
				}
				key := fmt.Sprintf("tpa1/%d-%d", w, i)
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				err := put(wctx, nd, key)
				wcancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		}(w)
	}
	time.Sleep(300 * time.Millisecond) // let writes flow before the kill
	killedAt := time.Now()
	c.kill(leader)
	next := c.leader(t, 10*time.Second)
	t.Logf("new leader %s elected %s after the kill", next.name, time.Since(killedAt).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond) // writes through the new leader
	cancel()
	wg.Wait()
	var alive []*node
	for _, nd := range c.nodes {
		if nd != leader {
			alive = append(alive, nd)
		}
	}
	waitSame(t, alive, 5*time.Second)
	for _, nd := range alive {
		for _, k := range acked {
			if _, ok, _ := nd.local.Get("extensions", k); !ok {
				t.Fatalf("acknowledged write %s lost at %s", k, nd.name)
			}
		}
	}
	if len(acked) < 10 {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
	// The old leader comes back and catches up.
	c.revive(leader, 3, nil)
	waitSame(t, c.nodes, 10*time.Second)
}

func TestPartitionedLeaderStepsDown(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.leader(t, 10*time.Second)
	// Every node must know the configuration first: right after the
	// bootstrap, followers that only voted have none yet.
	if err := put(bg, old, "tpa1/before"); err != nil {
		t.Fatal(err)
	}
	waitSame(t, c.nodes, 5*time.Second)
	for _, o := range c.nodes {
		if o != old {
			o.trans.Disconnect(old.trans.LocalAddr())
			old.trans.Disconnect(o.trans.LocalAddr())
		}
	}
	// The majority elects a new leader; the old one cannot commit.
	deadline := time.Now().Add(10 * time.Second)
	var next *node
	for next == nil && time.Now().Before(deadline) {
		for _, nd := range c.nodes {
			if nd != old && nd.rs.IsLeader() {
				next = nd
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if next == nil {
		t.Fatal("the majority elected no leader")
	}
	if err := put(bg, next, "tpa1/majority"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, time.Second)
	defer cancel()
	if _, err := old.rs.ApplyAsLeader(bg, []store.Op{{Kind: store.OpStatus, Status: map[string][]byte{"x": []byte("y")}}}); err == nil {
		t.Fatal("a leader cut off from its majority committed a write")
	}
	_ = ctx
	for _, o := range c.nodes {
		if o != old {
			o.trans.Connect(old.trans.LocalAddr(), old.trans)
			old.trans.Connect(o.trans.LocalAddr(), o.trans)
		}
	}
	waitSame(t, c.nodes, 10*time.Second)
	if _, ok, _ := old.local.Get("extensions", "tpa1/majority"); !ok {
		t.Fatal("the old leader did not catch up after the heal")
	}
}

func TestNodeDownCatchesUpFromSnapshot(t *testing.T) {
	small := func(c *Config, _ *Deps) { c.SnapshotThreshold, c.TrailingLogs = 20, 5 }
	c := newCluster(t, 3, small)
	c.leader(t, 10*time.Second)
	down := c.nodes[2]
	c.kill(down)
	live := c.nodes[:2]
	for i := 0; i < 200; i++ {
		if err := put(bg, live[i%2], fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range live { // compact the log past what the down node has
		if err := nd.rs.Raft().Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
	}
	c.revive(down, 3, small)
	waitSame(t, c.nodes, 15*time.Second)
	if _, ok, _ := down.local.Get("extensions", "tpa1/199"); !ok {
		t.Fatal("the returning node lacks the last write")
	}
}

func TestStoreSeededOfflineReachesEveryNode(t *testing.T) {
	c := newSeededCluster(t, 3, nil, func(st *store.Store) {
		var muts []store.Mutation
		for i := 0; i < 50; i++ {
			muts = append(muts, store.Mutation{Table: "extensions", Key: fmt.Sprintf("tpa1/%d", 1000+i), Value: pbx.Fields{"seed": "yes"}.AppendBinary(nil)})
		}
		if _, err := st.Write(bg, "seed", muts); err != nil {
			t.Fatal(err)
		}
	})
	leader := c.leader(t, 10*time.Second)
	if err := put(bg, leader, "tpa1/after"); err != nil {
		t.Fatal(err)
	}
	waitSame(t, c.nodes, 10*time.Second)
	for _, nd := range c.nodes {
		if _, ok, _ := nd.local.Get("extensions", "tpa1/1049"); !ok {
			t.Fatalf("%s lacks the seeded data", nd.name)
		}
	}
}

// TestRestartDoesNotRollTheStoreBack: the store holds what Raft applied
// (with the index, in one transaction), so a restart must not restore the
// last Raft snapshot over it. It used to: a node seeded offline (its seed
// is the first snapshot) came back with the store as it was at the seed,
// until Raft replayed the log after an election, and whatever read the
// store at start (the DNS server's serial, say) saw the old state.
func TestRestartDoesNotRollTheStoreBack(t *testing.T) {
	c := newSeededCluster(t, 1, nil, func(st *store.Store) {
		if _, err := st.Write(bg, "seed", []store.Mutation{{Table: "extensions", Key: "tpa1/seed", Value: pbx.Fields{"seed": "yes"}.AppendBinary(nil)}}); err != nil {
			t.Fatal(err)
		}
	})
	nd := c.leader(t, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !nd.rs.seeded.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the seed never became the first snapshot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := put(bg, nd, "tpa1/after"); err != nil {
		t.Fatal(err)
	}
	if _, err := nd.rs.WriteLocal(bg, "test", nil, map[string][]byte{"x/local": []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	c.kill(nd)
	c.revive(nd, 1, nil) // New has returned: Raft has started, not yet elected
	if _, ok, _ := nd.local.Get("extensions", "tpa1/after"); !ok {
		t.Fatal("after a restart the store lost a write made after the seed")
	}
	nd.local.View(func(sn *store.Snapshot) error {
		if string(sn.Local("x/local")) != "kept" {
			t.Error("after a restart the store lost a local entry written after the seed")
		}
		return nil
	})
}
