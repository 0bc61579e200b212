// Package raftstore makes the nodes of one cluster one replica: every
// write to the store is a Raft log entry (hashicorp/raft over raftlog, an
// append-only write-ahead log), and the store is the state machine that
// applies the committed entries in order on every node. Reads stay local.
package raftstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore/raftlog"
	"github.com/pbxtopo/pbxtopo/store"
)

// Config configures a node's Raft: settings only; the collaborators are
// in Deps.
type Config struct {
	Node    string
	Cluster string
	Dir     string // the Raft log, stable store and snapshots
	// BindAddr is raft_addr; Advertise what the others dial (BindAddr when empty).
	BindAddr  string
	Advertise string
	TLS       *tls.Config // the node's mutual-TLS configuration
	// Expect is how many voters to wait for before bootstrapping a new
	// cluster (1: this node alone).
	Expect int
	// Timeouts: a follower starts an election after HeartbeatTimeout
	// without a leader; a leader steps down after LeaderLease without a
	// quorum.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	LeaderLease      time.Duration
	// SnapshotThreshold and TrailingLogs: how often the log is compacted
	// into a snapshot, and how many entries stay for slow followers.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// ApplyTimeout bounds a write waiting for Raft.
	ApplyTimeout time.Duration
	// StartTimeout bounds how long a starting node waits to catch up with
	// its cluster's log before it serves its own copy anyway (a node cut
	// off from its cluster's majority; its copy never goes back in time).
	StartTimeout time.Duration
}

// DefaultConfig returns the defaults: failover in about two seconds.
func DefaultConfig(node, cluster, dir string) Config {
	return Config{Node: node, Cluster: cluster, Dir: dir, Expect: 1,
		HeartbeatTimeout: 600 * time.Millisecond, ElectionTimeout: 600 * time.Millisecond, LeaderLease: 300 * time.Millisecond,
		SnapshotThreshold: 8192, TrailingLogs: 10240, ApplyTimeout: 30 * time.Second, StartTimeout: 30 * time.Second}
}

// Validate says what is wrong with a configuration; it changes nothing.
func (c Config) Validate() error {
	switch {
	case c.Node == "" || c.Cluster == "" || c.Dir == "":
		return errors.New("raft: node, cluster and directory are required")
	case c.Expect < 1:
		return fmt.Errorf("raft.expect %d: at least 1 voter", c.Expect)
	case c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0 || c.LeaderLease <= 0 || c.ApplyTimeout <= 0 || c.StartTimeout <= 0:
		return errors.New("raft: timeouts must be positive (start from DefaultConfig)")
	case c.LeaderLease > c.HeartbeatTimeout:
		return fmt.Errorf("raft: leader lease %s is longer than the heartbeat timeout %s", c.LeaderLease, c.HeartbeatTimeout)
	case c.SnapshotThreshold == 0 || c.TrailingLogs == 0:
		return errors.New("raft: snapshot threshold and trailing logs must be positive (start from DefaultConfig)")
	}
	return nil
}

// Deps are a node's collaborators.
type Deps struct {
	Store     *store.Store // the local store: the state machine
	Peers     Peers        // the nodes of the cluster (membership)
	Forwarder Forwarder    // to the leader, when this node follows (nil: no forwarding)
	// Transport replaces the TLS transport (tests use raft's in-memory
	// one to cut links).
	Transport raft.Transport
	// Sealer, when set, seals the log's entries at rest (seal.go).
	Sealer EntrySealer
	Logger *slog.Logger
	// ObserveCommit, when set, hears how long each write took to commit
	// and apply (metrics).
	ObserveCommit func(time.Duration)
}

// Peer is another node of the same cluster as membership reports it.
type Peer struct {
	Node     string
	RaftAddr string
	ReplAddr string // where its replication endpoint (and the forward endpoint) listens
	Alive    bool
}

// Peers is what the store needs of membership: the nodes of its cluster.
type Peers interface {
	Peers() []Peer
}

// Forwarder sends ops to the leader when this node is a follower.
type Forwarder interface {
	Forward(ctx context.Context, replAddr string, ops []store.Op) ([]store.OpResult, error)
	// ReadIndex asks the leader for an index that covers every write it
	// acknowledged so far.
	ReadIndex(ctx context.Context, replAddr string) (uint64, error)
}

// Store is the store of a cluster node whose writes go through Raft. It
// offers the same methods as *store.Store, so the replicator and the
// agent's service use it unchanged.
type Store struct {
	cfg   Config
	deps  Deps
	local *store.Store
	fsm   *fsm
	raft  *raft.Raft
	trans raft.Transport
	logs  *raftlog.Log
	snaps raft.SnapshotStore
	log   *slog.Logger

	identity  atomic.Bool // the cluster agreed on an incarnation
	seedMu    sync.Mutex
	seeded    atomic.Bool // the store's offline seed is in Raft (or there was none)
	start     startState
	closeOnce sync.Once
}

// New starts Raft over the local store. The node bootstraps a new cluster
// once cfg.Expect voters are known (itself alone with Expect 1); otherwise
// it waits for the leader to add it.
//
// A restart never takes the store back in time: Raft does not restore its
// last snapshot over the store (the store already holds at least as much,
// and it records the last index applied, so the replay skips what it
// has); only a store that lost data (replaced by an older file) is brought
// up to the snapshot first.
func New(cfg Config, deps Deps) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Peers == nil {
		return nil, errors.New("raft: a store and the cluster's peers are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, deps: deps, local: deps.Store, log: deps.Logger}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Node)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLease
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = newHCLogger(s.log)
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	rc.NoSnapshotRestoreOnStart = true
	var err error
	if s.logs, err = openLog(cfg.Dir, s.log); err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, rc.Logger)
	s.snaps = snaps
	if err == nil {
		err = s.catchUpWithSnapshot()
	}
	if err != nil {
		s.logs.Close()
		return nil, err
	}
	s.trans = deps.Transport
	if s.trans == nil {
		layer, err := newTLSLayer(cfg.BindAddr, cfg.Advertise, cfg.TLS, cfg.Cluster)
		if err != nil {
			s.logs.Close()
			return nil, fmt.Errorf("raft_addr: %w", err)
		}
		s.trans = raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, rc.Logger)
	}
	s.fsm = newFSM(s.local, deps.Sealer, s.log, s.onStall)
	if s.raft, err = raft.NewRaft(rc, s.fsm, s.logs, s.logs, snaps, s.trans); err != nil {
		closeTransport(s.trans)
		s.logs.Close()
		return nil, err
	}
	s.start.begin(s.raft.LastIndex())
	return s, nil
}

// catchUpWithSnapshot brings a store that is behind the newest Raft
// snapshot up to it before Raft starts (Raft itself no longer restores
// on start). A store at or past it is left alone.
func (s *Store) catchUpWithSnapshot() error {
	list, err := s.snaps.List()
	if err != nil || len(list) == 0 || s.local.RaftIndex() >= list[0].Index {
		return err
	}
	meta, rc, err := s.snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("raft: open snapshot %s: %w", list[0].ID, err)
	}
	defer rc.Close()
	restored, err := s.local.Restore(rc)
	if err != nil {
		return fmt.Errorf("raft: the store is behind snapshot %s (index %d) and restoring it failed: %w", meta.ID, meta.Index, err)
	}
	if restored {
		s.log.Info("raft: the store was behind the last snapshot and was brought up to it", "snapshot", meta.ID, "index", meta.Index)
	}
	return nil
}

// onStall makes a leader that stopped applying hand leadership over, so
// the cluster goes on without it.
func (s *Store) onStall(err error) {
	if s.raft != nil && s.raft.State() == raft.Leader {
		go s.raft.LeadershipTransfer()
	}
}

// Stalled returns why this node stopped applying its cluster's log (an
// entry it cannot read, a store it cannot write), or nil.
func (s *Store) Stalled() error { return s.fsm.Stalled() }

// AppliedIndex returns the index of the last log entry in the store.
func (s *Store) AppliedIndex() uint64 { return s.fsm.applied.Load() }

// LogStats returns what this node's Raft log cost the disk since it
// started (benchmarks).
func (s *Store) LogStats() raftlog.Stats { return s.logs.Stats() }

// Local returns the local store (reads).
func (s *Store) Local() *store.Store { return s.local }

// Raft returns the Raft instance (status, tests).
func (s *Store) Raft() *raft.Raft { return s.raft }

// Run bootstraps when it must, adds the cluster's new nodes while this
// node leads, and returns when ctx ends.
func (s *Store) Run(ctx context.Context) {
	go s.WaitReady(ctx)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		s.maybeBootstrap()
		if s.raft.State() == raft.Leader {
			if err := s.ensureSeeded(); err != nil {
				s.log.Error("raft: handing the seeded store to the cluster", "err", err)
			}
			s.addNewPeers()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// maybeBootstrap starts a new cluster once Expect voters are known: the
// node with the lowest name bootstraps with all of them, so that exactly
// one configuration is made.
func (s *Store) maybeBootstrap() {
	has, err := raft.HasExistingState(s.logs, s.logs, s.snaps)
	if err != nil || has || s.raft.Leader() != "" {
		return
	}
	if len(s.raft.GetConfiguration().Configuration().Servers) > 0 {
		return
	}
	servers := []raft.Server{{ID: raft.ServerID(s.cfg.Node), Address: s.trans.LocalAddr()}}
	for _, p := range s.deps.Peers.Peers() {
		if p.Alive && p.Node != s.cfg.Node && p.RaftAddr != "" {
			servers = append(servers, raft.Server{ID: raft.ServerID(p.Node), Address: raft.ServerAddress(p.RaftAddr)})
		}
	}
	if len(servers) < s.cfg.Expect {
		return
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	servers = servers[:s.cfg.Expect]
	if servers[0].ID != raft.ServerID(s.cfg.Node) {
		return // the lowest name bootstraps; this node waits to be told
	}
	if err := s.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		s.log.Warn("raft bootstrap", "err", err)
		return
	}
	s.log.Info("raft cluster bootstrapped", "voters", len(servers))
}

// ensureSeeded hands data that is in the store but was never in the Raft
// log (a store seeded offline before the cluster's first start) to the
// cluster: the leader restores its own store as a Raft snapshot, so the
// log starts after it and every follower installs it. It runs once, before
// the first write through Raft.
func (s *Store) ensureSeeded() error {
	s.seedMu.Lock()
	defer s.seedMu.Unlock()
	if s.seeded.Load() {
		return nil
	}
	if s.local.RaftIndex() > 0 || len(s.local.Summary()) == 0 {
		s.seeded.Store(true)
		return nil
	}
	// Raft restores a snapshot only after the configuration entry of the
	// bootstrap is applied.
	if err := s.raft.Barrier(10 * time.Second).Error(); err != nil {
		return fmt.Errorf("raft: seed the cluster: %w", err)
	}
	f, err := os.CreateTemp(s.cfg.Dir, "seed-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	size, err := s.local.WriteTo(f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: size}
	if err := s.raft.Restore(meta, f, 5*time.Minute); err != nil {
		return fmt.Errorf("raft: seed the cluster with the local store: %w", err)
	}
	s.seeded.Store(true)
	s.log.Info("raft: the store seeded before the first start is now the cluster's first snapshot")
	return nil
}

// addNewPeers makes every live node of the cluster that is not yet in
// the configuration a voter. Nodes that are down stay in the
// configuration: removing one for good is an explicit command (Remove).
func (s *Store) addNewPeers() {
	cf := s.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	known := map[raft.ServerID]bool{}
	for _, srv := range cf.Configuration().Servers {
		known[srv.ID] = true
	}
	for _, p := range s.deps.Peers.Peers() {
		if !p.Alive || p.RaftAddr == "" || known[raft.ServerID(p.Node)] {
			continue
		}
		if err := s.raft.AddVoter(raft.ServerID(p.Node), raft.ServerAddress(p.RaftAddr), 0, 10*time.Second).Error(); err != nil {
			s.log.Warn("raft: add voter", "node", p.Node, "err", err)
			continue
		}
		s.log.Info("raft: node joined the cluster", "node", p.Node, "addr", p.RaftAddr)
	}
}

// Remove takes a node out of the Raft configuration for good (it must be
// run on the leader; the agent forwards it there).
func (s *Store) Remove(node string) error {
	if s.raft.State() != raft.Leader {
		return fmt.Errorf("%w: remove %s on the leader (%s)", ErrNoLeader, node, s.LeaderNode())
	}
	return s.raft.RemoveServer(raft.ServerID(node), 0, 10*time.Second).Error()
}

// IsLeader reports whether this node leads its cluster.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// State returns this node's Raft state: leader, follower, candidate.
func (s *Store) State() string {
	switch s.raft.State() {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	}
	return "shutdown"
}

// LeaderNode returns the leader's node name, or "".
func (s *Store) LeaderNode() string {
	_, id := s.raft.LeaderWithID()
	return string(id)
}

// LeaderCh delivers true when this node becomes leader, false when it
// stops being one.
func (s *Store) LeaderCh() <-chan bool { return s.raft.LeaderCh() }

// Barrier waits until every entry committed before it is applied here
// (a read through the leader).
func (s *Store) Barrier(timeout time.Duration) error { return s.raft.Barrier(timeout).Error() }

// Servers returns the Raft configuration: node → voter or not.
func (s *Store) Servers() (map[string]string, error) {
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, srv := range cf.Configuration().Servers {
		out[string(srv.ID)] = srv.Suffrage.String()
	}
	return out, nil
}

// Close stops Raft and its stores. Safe to call twice.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.fsm.stop)
		err = s.raft.Shutdown().Error()
		closeTransport(s.trans)
		s.logs.Close()
	})
	return err
}

// startState tracks a starting node's catch-up with its cluster's log:
// until its store holds every entry of the log it had at start (or a read
// through the leader succeeds), it may miss writes the cluster
// acknowledged, some of them perhaps through this very node.
type startState struct {
	mu     sync.Mutex
	target uint64    // the last log index at start
	since  time.Time // when the node started
	ready  bool
}

func (st *startState) begin(target uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.target, st.since = target, time.Now()
}

// Ready reports whether this node has caught up with its cluster's log
// since it started, and if not, why not yet. Until then the agent answers
// 503 and starts none of its writers.
func (s *Store) Ready() (bool, string) {
	st := &s.start
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ready {
		return true, ""
	}
	applied := s.AppliedIndex()
	switch {
	case applied >= st.target:
		st.ready = true
	case time.Since(st.since) > s.cfg.StartTimeout:
		st.ready = true
		s.log.Warn("raft: no catch-up with the cluster's log since start; serving this node's copy", "applied", applied, "log", st.target, "waited", s.cfg.StartTimeout)
	default:
		return false, fmt.Sprintf("starting: replaying %d entries of the Raft log (applied %d of %d)", st.target-applied, applied, st.target)
	}
	return true, ""
}

// WaitReady returns once the node is ready (see Ready), or when ctx ends.
// A read through the leader that succeeds makes it ready at once.
func (s *Store) WaitReady(ctx context.Context) error {
	for {
		if ok, _ := s.Ready(); ok {
			return nil
		}
		bctx, cancel := context.WithTimeout(ctx, s.cfg.HeartbeatTimeout*2)
		err := s.ReadBarrier(bctx)
		cancel()
		if err == nil {
			s.start.mu.Lock()
			s.start.ready = true
			s.start.mu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
