// Package raftstore makes the nodes of one cluster one replica: every
// write to the store is a Raft log entry (hashicorp/raft, raft-boltdb), and
// the store is the state machine that applies the committed entries in
// order on every node. Reads stay local.
package raftstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/store"
)

// Config configures a node's Raft.
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
	Logger       *slog.Logger
	// Transport replaces the TLS transport (tests use raft's in-memory
	// one to cut links).
	Transport raft.Transport
	// ObserveCommit, when set, hears how long each write took to commit
	// and apply (metrics).
	ObserveCommit func(time.Duration)
	// Sealer, when set, seals the log's entries at rest (seal.go).
	Sealer EntrySealer
}

// DefaultConfig returns the defaults: failover in about two seconds.
func DefaultConfig(node, cluster, dir string) Config {
	return Config{Node: node, Cluster: cluster, Dir: dir, Expect: 1,
		HeartbeatTimeout: 600 * time.Millisecond, ElectionTimeout: 600 * time.Millisecond, LeaderLease: 300 * time.Millisecond,
		SnapshotThreshold: 8192, TrailingLogs: 10240, ApplyTimeout: 30 * time.Second}
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
	local *store.Store
	raft  *raft.Raft
	trans raft.Transport
	logs  *raftboltdb.BoltStore
	snaps raft.SnapshotStore
	peers Peers
	fwd   Forwarder
	log   *slog.Logger

	identity  atomic.Bool // the cluster agreed on an incarnation
	seedMu    sync.Mutex
	seeded    atomic.Bool // the store's offline seed is in Raft (or there was none)
	closeOnce sync.Once
}

// ErrNoLeader: no leader could be reached to take a write.
var ErrNoLeader = errors.New("no Raft leader in this cluster")

// ErrUncertain: a write was proposed but its commit was not seen in time;
// it may still commit, so it is not retried.
var ErrUncertain = errors.New("write outcome unknown")

// New starts Raft over the local store. The node bootstraps a new cluster
// once cfg.Expect voters are known (itself alone with Expect 1); otherwise
// it waits for the leader to add it.
func New(cfg Config, local *store.Store, peers Peers, fwd Forwarder) (*Store, error) {
	def := DefaultConfig(cfg.Node, cfg.Cluster, cfg.Dir)
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = def.HeartbeatTimeout
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = def.ElectionTimeout
	}
	if cfg.LeaderLease == 0 {
		cfg.LeaderLease = def.LeaderLease
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = def.SnapshotThreshold
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = def.TrailingLogs
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = def.ApplyTimeout
	}
	if cfg.Expect == 0 {
		cfg.Expect = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, local: local, peers: peers, fwd: fwd, log: cfg.Logger}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Node)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLease
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = newHCLogger(cfg.Logger)
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	var err error
	if s.logs, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")}); err != nil {
		return nil, fmt.Errorf("raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, rc.Logger)
	s.snaps = snaps
	if err != nil {
		s.logs.Close()
		return nil, err
	}
	// The store keeps what Raft applied, with its index, in one
	// transaction: restoring the last snapshot over it at start would roll
	// it back until the log is replayed after an election. Only a store
	// behind the snapshot (replaced or wiped) needs it.
	if metas, err := snaps.List(); err == nil && len(metas) > 0 && metas[0].Index <= local.RaftIndex() {
		rc.NoSnapshotRestoreOnStart = true
	}
	s.trans = cfg.Transport
	if s.trans == nil {
		layer, err := newTLSLayer(cfg.BindAddr, cfg.Advertise, cfg.TLS, cfg.Cluster)
		if err != nil {
			s.logs.Close()
			return nil, fmt.Errorf("raft_addr: %w", err)
		}
		s.trans = raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, rc.Logger)
	}
	if s.raft, err = raft.NewRaft(rc, &fsm{st: local, sealer: cfg.Sealer}, s.logs, s.logs, snaps, s.trans); err != nil {
		closeTransport(s.trans)
		s.logs.Close()
		return nil, err
	}
	return s, nil
}

// Local returns the local store (reads).
func (s *Store) Local() *store.Store { return s.local }

// Raft returns the Raft instance (status, tests).
func (s *Store) Raft() *raft.Raft { return s.raft }

// Run bootstraps when it must, adds the cluster's new nodes while this
// node leads, and returns when ctx ends.
func (s *Store) Run(ctx context.Context) {
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
	for _, p := range s.peers.Peers() {
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
	for _, p := range s.peers.Peers() {
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
		err = s.raft.Shutdown().Error()
		closeTransport(s.trans)
		s.logs.Close()
	})
	return err
}

// propose runs ops through Raft: on the leader directly, on a follower by
// forwarding them to the leader. During an election it retries until a
// leader answers or the apply timeout ends.
func (s *Store) propose(ctx context.Context, ops []store.Op) ([]store.OpResult, error) {
	if err := s.local.Writable(); err != nil { // a full disk refuses writes before the log takes them
		return nil, err
	}
	deadline := time.Now().Add(s.cfg.ApplyTimeout)
	for {
		res, err := s.proposeOnce(ctx, ops)
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrNotLeader) {
			return res, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w (node %s is %s)", ErrNoLeader, s.cfg.Node, s.State())
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Store) proposeOnce(ctx context.Context, ops []store.Op) ([]store.OpResult, error) {
	if s.raft.State() == raft.Leader {
		return s.ApplyAsLeader(ctx, ops)
	}
	leader := s.LeaderNode()
	if leader == "" || s.fwd == nil {
		return nil, ErrNoLeader
	}
	for _, p := range s.peers.Peers() {
		if p.Node == leader && p.ReplAddr != "" {
			return s.fwd.Forward(ctx, p.ReplAddr, ops)
		}
	}
	return nil, ErrNoLeader
}

// ReadBarrier returns once this node's store holds every write the
// cluster acknowledged before the call: on the leader, a barrier entry
// (committing it proves the node still leads); on a follower, the
// leader's read index, then a wait until this node has applied up to it.
// Reads after it are as fresh as a read on the leader.
func (s *Store) ReadBarrier(ctx context.Context) error {
	deadline := time.Now().Add(s.cfg.ApplyTimeout)
	for {
		idx, err := s.readIndex(ctx)
		if err == nil {
			for s.raft.AppliedIndex() < idx {
				if time.Now().After(deadline) {
					return fmt.Errorf("%w: node %s has applied up to %d of %d", ErrNoLeader, s.cfg.Node, s.raft.AppliedIndex(), idx)
				}
				select {
				case <-time.After(2 * time.Millisecond):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrNotLeader) {
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w (node %s is %s)", ErrNoLeader, s.cfg.Node, s.State())
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Store) readIndex(ctx context.Context) (uint64, error) {
	if s.raft.State() == raft.Leader {
		return s.leaderReadIndex()
	}
	leader := s.LeaderNode()
	if leader == "" || s.fwd == nil {
		return 0, ErrNoLeader
	}
	for _, p := range s.peers.Peers() {
		if p.Node == leader && p.ReplAddr != "" {
			return s.fwd.ReadIndex(ctx, p.ReplAddr)
		}
	}
	return 0, ErrNoLeader
}

// leaderReadIndex commits a barrier and returns the index applied.
func (s *Store) leaderReadIndex() (uint64, error) {
	if s.raft.State() != raft.Leader {
		return 0, raft.ErrNotLeader
	}
	if err := s.raft.Barrier(s.cfg.ApplyTimeout).Error(); err != nil {
		return 0, err
	}
	return s.raft.AppliedIndex(), nil
}

// ApplyAsLeader applies ops through this node's Raft (the forward
// endpoint calls it for followers).
//
// It waits for the commit until ctx ends or ApplyTimeout passes (Raft's
// own future would wait for ever when the leader can neither commit nor
// learn it lost); the write may then still commit, and the error says so.
func (s *Store) ApplyAsLeader(ctx context.Context, ops []store.Op) ([]store.OpResult, error) {
	if err := s.ensureSeeded(); err != nil {
		return nil, err
	}
	// The first entry a cluster commits carries its identity: every node
	// adopts the first leader's incarnation, so all make the same streams.
	agreed := s.identity.Load() || s.local.IdentityAgreed()
	if agreed {
		s.identity.Store(true)
	} else {
		ops = append([]store.Op{{Kind: store.OpIdentity, Incarnation: s.local.Incarnation()}}, ops...)
	}
	data, err := encodeOps(ops)
	if err == nil {
		data, err = s.sealEntry(data)
	}
	if err != nil {
		return nil, err
	}
	start := time.Now()
	f := s.raft.Apply(data, s.cfg.ApplyTimeout)
	if s.cfg.ObserveCommit != nil {
		defer func() { s.cfg.ObserveCommit(time.Since(start)) }()
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	timer := time.NewTimer(s.cfg.ApplyTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the write was proposed to Raft but the caller stopped waiting for its commit; it may still commit", ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("%w: the write was proposed to Raft but did not commit within %s; it may still commit", ErrUncertain, s.cfg.ApplyTimeout)
	}
	r, ok := f.Response().(fsmResponse)
	if !ok {
		return nil, fmt.Errorf("raft: unexpected FSM response %T", f.Response())
	}
	if !agreed && r.err == nil {
		r.results = r.results[1:]
	}
	return r.results, r.err
}

// fsm applies committed entries to the store.
type fsm struct {
	st     *store.Store
	sealer EntrySealer
}

type fsmResponse struct {
	results []store.OpResult
	err     error
}

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies the ops of several entries in one store transaction
// (one fsync), in log order, recording the last index.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	var ops []store.Op
	var owner []int // entry of each op
	var last uint64
	applied := f.st.RaftIndex()
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		last = l.Index
		if l.Index <= applied {
			// Replayed after a restart: the store holds it already and
			// skips it, so it need not be opened (its key may be gone
			// after a rotation).
			out[i] = fsmResponse{}
			continue
		}
		data, err := openEntry(f.sealer, l.Data)
		if err != nil {
			panic(fmt.Sprintf("raft FSM: entry %d: %v", l.Index, err))
		}
		entryOps, err := decodeOps(data)
		if err != nil {
			out[i] = fsmResponse{err: err}
			continue
		}
		for range entryOps {
			owner = append(owner, i)
		}
		ops = append(ops, entryOps...)
	}
	if last == 0 {
		return out
	}
	results, err := f.st.ApplyOps(context.Background(), last, ops)
	if err != nil {
		// The store could not write (disk full, I/O error): Raft must not
		// go on as if the entries were applied.
		panic(fmt.Sprintf("raft FSM: store write failed at index %d: %v", last, err))
	}
	per := map[int][]store.OpResult{}
	for j, r := range results {
		per[owner[j]] = append(per[owner[j]], r)
	}
	for i, l := range logs {
		if l.Type == raft.LogCommand && out[i] == nil {
			out[i] = fsmResponse{results: per[i]}
		}
	}
	return out
}

// Snapshot hands Raft the store: its copy is consistent and records the
// last applied index, so a restore followed by a replay skips what the copy
// already holds.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) { return snapshot{f.st}, nil }

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.st.Restore(rc)
}

type snapshot struct{ st *store.Store }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.st.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}

func encodeOps(ops []store.Op) ([]byte, error) { return store.AppendOps(nil, ops), nil }

func decodeOps(data []byte) ([]store.Op, error) {
	ops, err := store.DecodeOps(data)
	if err != nil {
		return nil, fmt.Errorf("raft: decode entry: %w", err)
	}
	return ops, nil
}

// tlsLayer is the Raft stream layer over mutual TLS: only nodes of this
// cluster (by certificate) may talk Raft with it.
type tlsLayer struct {
	net.Listener
	advertise net.Addr
	cfg       *tls.Config
	cluster   string
}

func newTLSLayer(bind, advertise string, cfg *tls.Config, cluster string) (*tlsLayer, error) {
	if cfg == nil {
		return nil, errors.New("raft needs the node's TLS configuration")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	var adv net.Addr = ln.Addr()
	if advertise != "" {
		if adv, err = net.ResolveTCPAddr("tcp", advertise); err != nil {
			ln.Close()
			return nil, err
		}
	}
	c := cfg.Clone()
	c.NextProtos = []string{"pbxtopo-raft"}
	check := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no certificate")
		}
		id, err := pki.IdentityOf(cs.PeerCertificates[0])
		if err != nil {
			return err
		}
		if id.Cluster != cluster {
			return fmt.Errorf("node %s of cluster %s may not join the Raft group of cluster %s", id.Node, id.Cluster, cluster)
		}
		return nil
	}
	c.VerifyConnection = check
	return &tlsLayer{Listener: tls.NewListener(ln, c), advertise: adv, cfg: c, cluster: cluster}, nil
}

func (l *tlsLayer) Addr() net.Addr { return l.advertise }

func (l *tlsLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(addr), l.cfg)
}

// store methods, through Raft.

// Write implements the store's Write through Raft.
func (s *Store) Write(ctx context.Context, author string, muts []store.Mutation) (store.WriteResult, error) {
	return s.WriteLocal(ctx, author, muts, nil)
}

// WriteLocal implements the store's WriteLocal through Raft.
func (s *Store) WriteLocal(ctx context.Context, author string, muts []store.Mutation, local map[string][]byte) (store.WriteResult, error) {
	scopes := make([]string, len(muts))
	for i, m := range muts {
		scopes[i] = s.local.ScopeOf(m.Table)
	}
	r, err := s.one(ctx, store.Op{Kind: store.OpWrite, Author: author, HLC: store.Now(), Muts: muts, Scopes: scopes, Local: local})
	return r.Write, err
}

// Apply implements the store's Apply through Raft.
func (s *Store) Apply(ctx context.Context, changes []*store.Change) (store.ApplyResult, error) {
	r, err := s.one(ctx, store.Op{Kind: store.OpApply, Changes: changes})
	return r.Apply, err
}

// Revert implements the store's Revert through Raft.
func (s *Store) Revert(ctx context.Context, author string, id store.Dot) (store.WriteResult, *store.Change, error) {
	r, err := s.one(ctx, store.Op{Kind: store.OpRevert, Author: author, HLC: store.Now(), Revert: id})
	return r.Write, r.Reverted, err
}

// PutStatus implements the store's PutStatus through Raft.
func (s *Store) PutStatus(ctx context.Context, entries map[string][]byte) error {
	_, err := s.one(ctx, store.Op{Kind: store.OpStatusAt, HLC: store.Now(), Status: entries})
	return err
}

// MergeStatus implements the store's MergeStatus through Raft.
func (s *Store) MergeStatus(ctx context.Context, entries []store.StatusEntry) (int, error) {
	if err := store.CheckStatusEntries(entries); err != nil {
		return 0, err // refused before it becomes a log entry
	}
	r, err := s.one(ctx, store.Op{Kind: store.OpStatusIn, StatusEntries: entries})
	return r.N, err
}

// MergeSnapshot implements the store's MergeSnapshot through Raft.
func (s *Store) MergeSnapshot(ctx context.Context, p *store.SnapshotPage, S store.Summary, f store.TableFilter) error {
	_, err := s.one(ctx, store.Op{Kind: store.OpMerge, Page: p, S: S, Filter: f})
	return err
}

// PurgeTombstones implements the store's PurgeTombstones through Raft.
func (s *Store) PurgeTombstones(ctx context.Context, horizon, ceiling store.Summary) (int, error) {
	r, err := s.one(ctx, store.Op{Kind: store.OpPurge, Horizon: horizon, Ceiling: ceiling})
	return r.N, err
}

// PruneLog implements the store's PruneLog through Raft, a round at a time.
func (s *Store) PruneLog(ctx context.Context, olderThan time.Time, safe store.Summary) (int, error) {
	total := 0
	for {
		r, err := s.one(ctx, store.Op{Kind: store.OpPrune, Older: olderThan, Safe: safe})
		total += r.N
		if err != nil || r.N < store.PruneRound {
			return total, err
		}
	}
}

func (s *Store) one(ctx context.Context, op store.Op) (store.OpResult, error) {
	res, err := s.propose(ctx, []store.Op{op})
	if err != nil {
		return store.OpResult{}, err
	}
	if len(res) != 1 {
		return store.OpResult{}, fmt.Errorf("raft: %d results for one op", len(res))
	}
	return res[0], res[0].Err
}

// Reads are local.

func (s *Store) Replica() string                           { return s.local.Replica() }
func (s *Store) Summary() store.Summary                    { return s.local.Summary() }
func (s *Store) Changed() <-chan struct{}                  { return s.local.Changed() }
func (s *Store) View(fn func(*store.Snapshot) error) error { return s.local.View(fn) }
func (s *Store) Stream(table string) store.Stream          { return s.local.Stream(table) }
func (s *Store) ReadSnapshot(t func(string) bool, after string, max int) (*store.SnapshotPage, error) {
	return s.local.ReadSnapshot(t, after, max)
}
func (s *Store) StatusSince(after uint64, want func(owner string) bool, max int) (*store.StatusPage, error) {
	return s.local.StatusSince(after, want, max)
}
func (s *Store) ChangesSince(have store.Summary, want func(store.Stream) bool, max int) (*store.Batch, error) {
	return s.local.ChangesSince(have, want, max)
}

// newHCLogger routes raft's hclog lines into slog.
func newHCLogger(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: slogWriter{l}, DisableTime: true})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	switch {
	case strings.Contains(line, "[WARN]"):
		level = slog.LevelWarn
	case strings.Contains(line, "[ERROR]"):
		level = slog.LevelError
	case strings.Contains(line, "[DEBUG]"), strings.Contains(line, "[TRACE]"):
		level = slog.LevelDebug
	}
	w.l.Log(context.Background(), level, line, "subsystem", "raft")
	return len(p), nil
}

func closeTransport(t raft.Transport) {
	if c, ok := t.(io.Closer); ok {
		c.Close()
	}
}
