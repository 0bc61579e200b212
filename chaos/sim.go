package chaos

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"path/filepath"
	"slices"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// epoch is the simulated clock's start: runs do not depend on the date.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// SimConfig configures a simulated enterprise.
type SimConfig struct {
	Seed     int64
	Clusters int // 2..10; cluster i is "c<i>" at site "s<i/2>"
	Mode     replicator.Mode
	Dir      string // data dirs; one subdirectory per cluster
	// PullEvery is how often each link pulls (simulated time).
	PullEvery time.Duration
	// Latency is the one-way network delay before jitter.
	Latency time.Duration
	// Watermark is how often replicas publish watermarks and collect
	// garbage (0: never).
	Watermark time.Duration
	Logger    *slog.Logger
}

// Sim is an enterprise of replicas in one process, over a simulated
// network and clock. It is single-threaded: every random choice comes from
// the seed, so a seed replays the same run.
type Sim struct {
	cfg    SimConfig
	rnd    *rand.Rand
	now    time.Time
	nodes  []*node
	events eventQueue
	seq    uint64
	net    network
	log    *slog.Logger
	stats  Stats
}

// Stats counts what the network and the faults did.
type Stats struct {
	Messages, Dropped, Duplicated, Reordered int
	Pulls, Snapshots, PullErrors             int
	Faults                                   map[string]int
}

type node struct {
	i       int
	name    string
	site    string
	dir     string
	inc     uint64
	skew    time.Duration
	up      bool // not crashed
	paused  bool
	st      *store.Store
	rep     *replicator.Replicator
	sim     *Sim
	changed chan struct{}
}

// network is the fault state of the simulated network.
type network struct {
	blocked   map[[2]int]bool // from, to
	loss      float64
	dup       float64
	jitter    time.Duration
	extraWait time.Duration
}

// NewSim creates the replicas, each with a fresh store in cfg.Dir.
func NewSim(cfg SimConfig) (*Sim, error) {
	if cfg.Clusters < 2 || cfg.Clusters > 10 {
		return nil, fmt.Errorf("chaos: %d clusters: use 2 to 10", cfg.Clusters)
	}
	if cfg.Mode == "" {
		cfg.Mode = replicator.Mesh
	}
	if cfg.PullEvery == 0 {
		cfg.PullEvery = 50 * time.Millisecond
	}
	if cfg.Latency == 0 {
		cfg.Latency = 2 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sim{cfg: cfg, rnd: rand.New(rand.NewSource(cfg.Seed)), now: epoch, log: cfg.Logger,
		net: network{blocked: map[[2]int]bool{}}, stats: Stats{Faults: map[string]int{}}}
	for i := 0; i < cfg.Clusters; i++ {
		n := &node{i: i, name: fmt.Sprintf("c%d", i), site: fmt.Sprintf("s%d", i/2), sim: s, changed: make(chan struct{})}
		n.dir = filepath.Join(cfg.Dir, n.name)
		n.inc = uint64(s.rnd.Int63()) | 1
		if err := n.start(); err != nil {
			s.Close()
			return nil, err
		}
		s.nodes = append(s.nodes, n)
	}
	for _, n := range s.nodes {
		s.schedulePulls(n)
		if cfg.Watermark > 0 {
			s.every(cfg.Watermark, func() bool { return n.collect() })
		}
	}
	return s, nil
}

// Topology returns the topology every replica starts with.
func (s *Sim) Topology() replicator.Topology {
	t := replicator.Topology{Mode: s.cfg.Mode}
	for i := 0; i < s.cfg.Clusters; i++ {
		t.Order = append(t.Order, fmt.Sprintf("c%d", i))
	}
	t.Primary = t.Order[0]
	return t
}

func (n *node) clock() time.Time { return n.sim.now.Add(n.skew) }

func (n *node) start() error {
	cfg := store.DefaultConfig(filepath.Join(n.dir, "store.db"))
	cfg.Replica = n.name
	cfg.Site = n.site
	cfg.Incarnation = n.inc
	cfg.Now = n.clock
	cfg.MaxSkew = time.Minute
	var rep *replicator.Replicator
	cfg.SiteTables = func(t string) bool { return rep != nil && rep.SiteOnly(t) }
	st, err := store.Open(cfg)
	if err != nil {
		return fmt.Errorf("chaos: %s: %w", n.name, err)
	}
	rc := replicator.DefaultConfig(n.name, n.site)
	rc.Default = n.sim.Topology()
	rc.AntiEntropy = 500 * time.Millisecond
	rc.MaxBatchBytes = 64 << 10 // small batches: more interleaving to explore
	rep, err = replicator.New(rc, replicator.Deps{Store: st, Membership: membershipView{n}, Now: n.clock})
	if err != nil {
		st.Close()
		return err
	}
	n.st, n.rep, n.up, n.paused = st, rep, true, false
	return nil
}

func (n *node) stop() {
	if n.st != nil {
		n.st.Close()
	}
	n.st, n.rep, n.up = nil, nil, false
}

// live reports whether the node processes messages.
func (n *node) live() bool { return n.up && !n.paused }

// membershipView is what one replica's failure detector believes: a
// cluster is alive when it runs and the network lets both ways through.
type membershipView struct{ n *node }

func (m membershipView) Clusters() []replicator.ClusterView {
	s := m.n.sim
	var out []replicator.ClusterView
	for _, o := range s.nodes {
		alive := o == m.n || o.live() && !s.net.blocked[[2]int{m.n.i, o.i}] && !s.net.blocked[[2]int{o.i, m.n.i}]
		out = append(out, replicator.ClusterView{Name: o.name, Site: o.site, Alive: alive, Addrs: []string{o.name}})
	}
	return out
}

func (m membershipView) Changed() <-chan struct{} { return m.n.changed }

// event queue ordered by time, then by insertion (so equal times replay).
type event struct {
	at  time.Time
	seq uint64
	fn  func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// at schedules fn after d of simulated time.
func (s *Sim) at(d time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.events, &event{at: s.now.Add(d), seq: s.seq, fn: fn})
}

// every runs fn every d (with a little jitter) while it returns true.
func (s *Sim) every(d time.Duration, fn func() bool) {
	var tick func()
	tick = func() {
		if fn() {
			s.at(d+time.Duration(s.rnd.Int63n(int64(d/4)+1)), tick)
		}
	}
	s.at(time.Duration(s.rnd.Int63n(int64(d)+1)), tick)
}

// RunFor advances simulated time by d, running every event due.
func (s *Sim) RunFor(d time.Duration) {
	end := s.now.Add(d)
	for len(s.events) > 0 && !s.events[0].at.After(end) {
		e := heap.Pop(&s.events).(*event)
		s.now = e.at
		e.fn()
	}
	s.now = end
}

// Now returns the simulated time.
func (s *Sim) Now() time.Time { return s.now }

// Close closes every store.
func (s *Sim) Close() {
	for _, n := range s.nodes {
		n.stop()
	}
}

// schedulePulls makes each of n's links pull every PullEvery.
func (s *Sim) schedulePulls(n *node) {
	s.every(s.cfg.PullEvery, func() bool {
		if n.live() {
			for _, src := range n.rep.Sources() {
				s.pull(n, src)
			}
		}
		return true
	})
}

// delay returns a one-way delay with jitter.
func (s *Sim) delay() time.Duration {
	d := s.cfg.Latency + s.net.extraWait
	if s.net.jitter > 0 {
		d += time.Duration(s.rnd.Int63n(int64(s.net.jitter)))
	}
	return d
}

// send delivers fn at the receiver after a delay, unless the network
// drops it; it may deliver it twice.
func (s *Sim) send(from, to int, fn func()) {
	s.stats.Messages++
	if s.net.blocked[[2]int{from, to}] || s.rnd.Float64() < s.net.loss {
		s.stats.Dropped++
		return
	}
	s.at(s.delay(), fn)
	if s.rnd.Float64() < s.net.dup {
		s.stats.Duplicated++
		s.at(s.delay()*2, fn)
	}
}

// pull runs one pull of n from src as two messages: the request is served
// by the peer when it arrives, the answer applied when it comes back, with
// whatever happened in between.
func (s *Sim) pull(n *node, src replicator.Source) {
	peer := s.byName(src.Cluster)
	if peer == nil {
		return
	}
	rep := n.rep
	req := rep.NewPullRequest(src)
	s.stats.Pulls++
	s.send(n.i, peer.i, func() {
		if !peer.live() {
			return
		}
		resp, err := peer.rep.ServePull(context.Background(), req)
		if err != nil {
			s.stats.PullErrors++
			return
		}
		s.send(peer.i, n.i, func() {
			if !n.live() || n.rep != rep {
				return // crashed or restarted since: the answer is lost
			}
			out, err := rep.HandlePull(context.Background(), src, req, resp)
			if err != nil {
				s.stats.PullErrors++
				return
			}
			if out.NeedSnapshot {
				s.snapshot(n, peer, src)
			}
		})
	})
}

// snapshot runs a catch-up in one go when both ends can talk now.
func (s *Sim) snapshot(n, peer *node, src replicator.Source) {
	s.stats.Snapshots++
	err := n.rep.CatchUp(context.Background(), src, func(q *replicator.SnapshotRequest) (*store.SnapshotPage, error) {
		if !peer.live() || s.net.blocked[[2]int{n.i, peer.i}] || s.net.blocked[[2]int{peer.i, n.i}] {
			return nil, fmt.Errorf("%s unreachable", peer.name)
		}
		return peer.rep.ServeSnapshot(context.Background(), q)
	})
	if err != nil {
		s.stats.PullErrors++
	}
}

// collect publishes n's watermark and collects garbage.
func (n *node) collect() bool {
	if !n.live() {
		return true
	}
	ctx := context.Background()
	if err := n.rep.PublishWatermark(ctx); err == nil {
		n.rep.CollectGarbage(ctx)
	}
	return true
}

func (s *Sim) byName(name string) *node {
	for _, n := range s.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// Node returns the store of replica i (nil while it is crashed).
func (s *Sim) Node(i int) *store.Store { return s.nodes[i].st }

// Replicator returns the replicator of replica i.
func (s *Sim) Replicator(i int) *replicator.Replicator { return s.nodes[i].rep }

// Name returns the cluster name of replica i.
func (s *Sim) Name(i int) string { return s.nodes[i].name }

// Site returns the site of replica i.
func (s *Sim) Site(i int) string { return s.nodes[i].site }

func (s *Sim) notifyMembership() {
	for _, n := range s.nodes {
		close(n.changed)
		n.changed = make(chan struct{})
	}
}

// sortedNodes returns the indexes of nodes in order, for choices that
// must not depend on map order.
func (s *Sim) indexes() []int {
	out := make([]int, len(s.nodes))
	for i := range out {
		out[i] = i
	}
	return slices.Clip(out)
}
