package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore"
	"github.com/pbxtopo/pbxtopo/replicator/replicatortest"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// The live mode runs the production code in one process: per cluster
// several nodes, each with its own bbolt store, Raft (raftstore over raft's
// in-memory transport), the agent's Service as the write path, and on the
// Raft leader the replicator's own Run loop over an in-memory replication
// transport. The campaign cuts, slows, drops and replays links and
// restarts nodes, in real time: runs are seeded but not replayable
// (DESIGN.md item 15).

// liveEnt is an enterprise of live nodes.
type liveEnt struct {
	cfg      LiveConfig
	log      *slog.Logger
	rnd      *lockedRand
	clusters []*liveCluster
	nodes    []*liveNode

	mu      sync.Mutex
	blocked map[[2]int]bool // node index from → to
	faults  replicatortest.Faults
	changed chan struct{} // closed at the next membership change
}

type liveCluster struct {
	name, site string
	nodes      []*liveNode
}

// liveNode is one agent: what runs is in parts, swapped when it restarts.
type liveNode struct {
	ent      *liveEnt
	i        int
	cluster  *liveCluster
	name     string
	dir      string
	replAddr string
	parts    atomic.Pointer[liveParts]
	starts   int
}

// liveParts is what one start of a node runs.
type liveParts struct {
	local  *store.Store
	rs     *raftstore.Store
	rep    *replicator.Replicator
	svc    *service.Service
	raftTr *raft.InmemTransport
	replTr *replicatortest.InmemTransport
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// lockedRand is a seeded source shared by goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) Intn(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Intn(n)
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func (l *lockedRand) Int63() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Int63()
}

func (l *lockedRand) Perm(n int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Perm(n)
}

// newLiveEnt creates the nodes (not started): cluster i is "c<i>" at site
// "s<i/2>", its nodes "c<i>-<j>".
func newLiveEnt(cfg LiveConfig) *liveEnt {
	e := &liveEnt{cfg: cfg, log: cfg.Logger, rnd: &lockedRand{r: rand.New(rand.NewSource(cfg.Seed))},
		blocked: map[[2]int]bool{}, changed: make(chan struct{})}
	for c := 0; c < cfg.Clusters; c++ {
		cl := &liveCluster{name: fmt.Sprintf("c%d", c), site: fmt.Sprintf("s%d", c/2)}
		for j := 1; j <= cfg.Nodes; j++ {
			n := &liveNode{ent: e, i: len(e.nodes), cluster: cl, name: fmt.Sprintf("%s-%d", cl.name, j)}
			n.dir = filepath.Join(cfg.Dir, n.name)
			n.replAddr = "repl-" + n.name
			cl.nodes = append(cl.nodes, n)
			e.nodes = append(e.nodes, n)
		}
		e.clusters = append(e.clusters, cl)
	}
	return e
}

// topology is the topology every cluster starts with.
func (e *liveEnt) topology() replicator.Topology {
	t := replicator.Topology{Mode: e.cfg.Mode}
	for _, c := range e.clusters {
		t.Order = append(t.Order, c.name)
	}
	t.Primary = t.Order[0]
	return t
}

// start opens the node's store from its dir and starts Raft, its
// leadership loop and the replicator (which runs while it leads).
func (n *liveNode) start() error {
	e := n.ent
	p := &liveParts{}
	var rep atomic.Pointer[replicator.Replicator]
	sc := store.DefaultConfig(filepath.Join(n.dir, "store.db"))
	sc.Replica, sc.Site = n.cluster.name, n.cluster.site
	sc.Logger = e.log.With("node", n.name, "subsystem", "store")
	sc.SiteTables = func(t string) bool { r := rep.Load(); return r != nil && r.SiteOnly(t) }
	var err error
	if p.local, err = store.Open(sc); err != nil {
		return fmt.Errorf("chaos: %s: %w", n.name, err)
	}
	_, p.raftTr = raft.NewInmemTransport(raft.ServerAddress(n.name))
	n.starts++
	p.replTr = replicatortest.NewInmemTransport(n.replAddr, e.cfg.Seed*1000+int64(n.i*100+n.starts))
	rcfg := raftstore.DefaultConfig(n.name, n.cluster.name, filepath.Join(n.dir, "raft"))
	rcfg.Expect = len(n.cluster.nodes)
	rcfg.HeartbeatTimeout, rcfg.ElectionTimeout, rcfg.LeaderLease = 400*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond
	// Small: the campaign takes snapshots and restarts nodes over them.
	rcfg.SnapshotThreshold, rcfg.TrailingLogs = 32, 16
	rcfg.ApplyTimeout = 3 * time.Second
	if p.rs, err = raftstore.New(rcfg, raftstore.Deps{Store: p.local, Peers: livePeers{n}, Forwarder: liveForwarder{n}, Transport: p.raftTr,
		Logger: e.log.With("node", n.name, "subsystem", "raft")}); err != nil {
		p.local.Close()
		return fmt.Errorf("chaos: %s: raft: %w", n.name, err)
	}
	rc := replicator.DefaultConfig(n.cluster.name, n.cluster.site)
	rc.Default = e.topology()
	rc.PullWait, rc.AntiEntropy = 300*time.Millisecond, 300*time.Millisecond
	rc.RetryMin, rc.RetryMax = 10*time.Millisecond, 300*time.Millisecond
	// Often enough to collect garbage in a short run, seldom enough to
	// leave quiet moments in which every node holds the same data.
	rc.Watermark = 2 * time.Second
	rc.MaxBatchBytes = 64 << 10
	r, err := replicator.New(rc, replicator.Deps{Store: p.rs, Transport: p.replTr, Membership: liveMembership{n},
		Logger: e.log.With("node", n.name, "subsystem", "replication")})
	if err != nil {
		p.rs.Close()
		p.local.Close()
		return err
	}
	rep.Store(r)
	p.rep = r
	p.replTr.Serve(r) // every node answers pulls from its local copy, as the agent does
	p.replTr.SetFaults(e.transportFaults())
	p.svc = service.NewServiceWith(p.rs, service.Deps{Repl: r, Raft: p.rs, Cluster: n.cluster.name, Node: n.name})
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.rs.Run(ctx) }()
	go func() { defer p.wg.Done(); p.leadership(ctx) }()
	n.parts.Store(p)
	e.applyNetwork()
	return nil
}

// leadership runs the replicator while this node leads its cluster, as
// the agent's leadership loop does.
func (p *liveParts) leadership(ctx context.Context) {
	var stop context.CancelFunc
	var done chan struct{}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		leads := p.rs.IsLeader()
		switch {
		case leads && stop == nil:
			var rctx context.Context
			rctx, stop = context.WithCancel(ctx)
			done = make(chan struct{})
			go func() {
				defer close(done)
				// Leader work starts once the new leader applied
				// everything committed before it.
				for rctx.Err() == nil {
					if p.rs.Barrier(time.Second) == nil {
						p.rep.Run(rctx)
						return
					}
					select {
					case <-rctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
		case !leads && stop != nil:
			stop()
			<-done
			stop = nil
		}
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
				<-done
			}
			return
		case <-tick.C:
		}
	}
}

// stop closes the node as a crash would, after Raft has fsynced what it
// acknowledged: its links go down, its Raft and store close.
func (n *liveNode) stop() {
	p := n.parts.Swap(nil)
	if p == nil {
		return
	}
	n.ent.applyNetwork()
	p.replTr.Serve(nil)
	p.cancel()
	p.wg.Wait()
	p.rs.Close()
	p.local.Close()
}

func (n *liveNode) up() bool { return n.parts.Load() != nil }

// transportFaults returns the faults every replication transport has now.
func (e *liveEnt) transportFaults() replicatortest.Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faults
}

// setFaults changes the faults of every replication transport.
func (e *liveEnt) setFaults(f replicatortest.Faults) {
	e.mu.Lock()
	e.faults = f
	e.mu.Unlock()
	for _, n := range e.nodes {
		if p := n.parts.Load(); p != nil {
			p.replTr.SetFaults(f)
		}
	}
}

// reachable reports whether a and b can talk both ways.
func (e *liveEnt) reachable(a, b *liveNode) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.blocked[[2]int{a.i, b.i}] && !e.blocked[[2]int{b.i, a.i}]
}

// block cuts (or, with false, restores) both ways between a and b.
func (e *liveEnt) block(a, b *liveNode, cut bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range [][2]int{{a.i, b.i}, {b.i, a.i}} {
		if cut {
			e.blocked[k] = true
		} else {
			delete(e.blocked, k)
		}
	}
}

// partition cuts every link between the clusters of a and those of b.
func (e *liveEnt) partition(a, b []*liveCluster) string {
	var an, bn []string
	for _, x := range a {
		an = append(an, x.name)
		for _, y := range b {
			for _, nx := range x.nodes {
				for _, ny := range y.nodes {
					e.block(nx, ny, true)
				}
			}
		}
	}
	for _, y := range b {
		bn = append(bn, y.name)
	}
	e.applyNetwork()
	return fmt.Sprintf("partition %v | %v", an, bn)
}

// healNetwork restores every link and removes the transport faults.
func (e *liveEnt) healNetwork() {
	e.mu.Lock()
	e.blocked = map[[2]int]bool{}
	e.mu.Unlock()
	e.setFaults(replicatortest.Faults{})
	e.applyNetwork()
}

// applyNetwork connects every pair of running nodes the network lets
// through (Raft inside a cluster, replication everywhere) and tells
// membership.
func (e *liveEnt) applyNetwork() {
	for _, a := range e.nodes {
		pa := a.parts.Load()
		if pa == nil {
			continue
		}
		for _, b := range e.nodes {
			if a == b {
				continue
			}
			pb := b.parts.Load()
			e.mu.Lock()
			ok := pb != nil && !e.blocked[[2]int{a.i, b.i}]
			e.mu.Unlock()
			if ok {
				pa.replTr.Connect(b.replAddr, pb.replTr)
				if a.cluster == b.cluster {
					pa.raftTr.Connect(raft.ServerAddress(b.name), pb.raftTr)
				}
			} else {
				pa.replTr.Disconnect(b.replAddr)
				if a.cluster == b.cluster {
					pa.raftTr.Disconnect(raft.ServerAddress(b.name))
				}
			}
		}
	}
	e.mu.Lock()
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

// alive is what node from's failure detector says of node o.
func (e *liveEnt) alive(from, o *liveNode) bool {
	return o == from || o.up() && from.up() && e.reachable(from, o)
}

// liveMembership is one node's view of the enterprise, as Serf would
// give it: a cluster is alive when one of its nodes is reachable.
type liveMembership struct{ n *liveNode }

func (m liveMembership) Clusters() []replicator.ClusterView {
	var members []replicator.Member
	for _, o := range m.n.ent.nodes {
		status := "failed"
		if m.n.ent.alive(m.n, o) {
			status = "alive"
		}
		members = append(members, replicator.Member{Node: o.name, Status: status, Tags: map[string]string{
			replicator.TagCluster: o.cluster.name, replicator.TagSite: o.cluster.site, replicator.TagRepl: o.replAddr}})
	}
	return replicator.ClustersOf(members)
}

func (m liveMembership) Changed() <-chan struct{} {
	m.n.ent.mu.Lock()
	defer m.n.ent.mu.Unlock()
	return m.n.ent.changed
}

// livePeers are the nodes of one node's cluster, for Raft.
type livePeers struct{ n *liveNode }

func (p livePeers) Peers() []raftstore.Peer {
	var out []raftstore.Peer
	for _, o := range p.n.cluster.nodes {
		out = append(out, raftstore.Peer{Node: o.name, RaftAddr: o.name, ReplAddr: o.replAddr, Alive: p.n.ent.alive(p.n, o)})
	}
	return out
}

// liveForwarder carries a follower's ops to its leader in process, through
// the ops' wire form, over the simulated network.
type liveForwarder struct{ n *liveNode }

func (f liveForwarder) leader(replAddr string) (*raftstore.Store, error) {
	for _, o := range f.n.cluster.nodes {
		if o.replAddr != replAddr {
			continue
		}
		p := o.parts.Load()
		if p == nil || !f.n.ent.reachable(f.n, o) {
			return nil, fmt.Errorf("%w: forward to %s: unreachable", raftstore.ErrNoLeader, replAddr)
		}
		if !p.rs.IsLeader() {
			return nil, raftstore.ErrNoLeader // leadership moved: ask again
		}
		return p.rs, nil
	}
	return nil, fmt.Errorf("%w: no node at %s", raftstore.ErrNoLeader, replAddr)
}

// call runs fn on the leader as the HTTP forwarder would: the follower
// stops waiting when its context ends, whatever the leader does.
func call[T any](ctx context.Context, replAddr string, fn func() (T, error)) (T, error) {
	type answer struct {
		v   T
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := fn()
		done <- answer{v, err}
	}()
	select {
	case a := <-done:
		return a.v, a.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%w: forward to %s: %v", raftstore.ErrNoLeader, replAddr, ctx.Err())
	}
}

func (f liveForwarder) Forward(ctx context.Context, replAddr string, ops []store.Op) ([]store.OpResult, error) {
	rs, err := f.leader(replAddr)
	if err != nil {
		return nil, err
	}
	wire, err := store.DecodeOps(store.AppendOps(nil, ops))
	if err != nil {
		return nil, err
	}
	res, err := call(ctx, replAddr, func() ([]store.OpResult, error) { return rs.ApplyAsLeader(ctx, wire) })
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return nil, raftstore.ErrNoLeader // the forward endpoint answers 409: ask again
	}
	return res, err
}

func (f liveForwarder) ReadIndex(ctx context.Context, replAddr string) (uint64, error) {
	rs, err := f.leader(replAddr)
	if err != nil {
		return 0, err
	}
	return call(ctx, replAddr, func() (uint64, error) {
		if err := rs.ReadBarrier(ctx); err != nil {
			return 0, err
		}
		return rs.Raft().AppliedIndex(), nil
	})
}

// leaderOf returns the node leading cluster c now, or nil.
func (c *liveCluster) leader() *liveNode {
	for _, n := range c.nodes {
		if p := n.parts.Load(); p != nil && p.rs.IsLeader() {
			return n
		}
	}
	return nil
}

// waitLeaders waits until every cluster has a leader that committed a
// write (its identity), so the cluster's streams exist.
func (e *liveEnt) waitLeaders(ctx context.Context) error {
	for _, c := range e.clusters {
		for {
			if l := c.leader(); l != nil {
				if err := l.parts.Load().rs.Barrier(time.Second); err == nil {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("chaos: cluster %s elected no leader: %w", c.name, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// describe says, per node, its Raft state and how far it applied, for a
// report.
func (e *liveEnt) describe() string {
	var parts []string
	for _, n := range e.nodes {
		p := n.parts.Load()
		if p == nil {
			parts = append(parts, n.name+" down")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s raft applied %d store at %d summary %v", n.name, p.rs.State(),
			p.rs.Raft().AppliedIndex(), p.local.RaftIndex(), p.local.Summary()))
	}
	return strings.Join(parts, "; ")
}

// close stops every node.
func (e *liveEnt) close() {
	for _, n := range e.nodes {
		n.stop()
	}
}

// views returns the stores of every running node, for the convergence
// check; ok is false while a node is down.
func (e *liveEnt) views() ([]replicaView, bool) {
	var out []replicaView
	for _, n := range e.nodes {
		p := n.parts.Load()
		if p == nil {
			return nil, false
		}
		out = append(out, replicaView{name: n.name, site: n.cluster.site, st: p.local, siteOnly: p.rep.SiteOnly})
	}
	return out, true
}
