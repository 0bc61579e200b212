package replicator

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// Store is what the replicator needs of the local store. With Raft, Apply
// and Write go through the cluster's log; reads stay local.
type Store interface {
	Replica() string
	Summary() store.Summary
	Changed() <-chan struct{}
	View(fn func(*store.Snapshot) error) error
	Write(ctx context.Context, author string, muts []store.Mutation) (store.WriteResult, error)
	Apply(ctx context.Context, changes []*store.Change) (store.ApplyResult, error)
	ChangesSince(have store.Summary, want func(store.Stream) bool, maxBytes int) (*store.Batch, error)
	ReadSnapshot(tables func(string) bool, after string, maxBytes int) (*store.SnapshotPage, error)
	MergeSnapshot(ctx context.Context, p *store.SnapshotPage, S store.Summary, f store.TableFilter) error
	PurgeTombstones(ctx context.Context, horizon, ceiling store.Summary) (int, error)
	PruneLog(ctx context.Context, olderThan time.Time, safe store.Summary) (int, error)
}

var _ Store = (*store.Store)(nil)

// Membership says which clusters exist and which are alive (Serf in the
// agent, a simulation in chaos).
type Membership interface {
	Clusters() []ClusterView
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
}

// Transport carries requests to a peer's replication endpoint.
type Transport interface {
	Pull(ctx context.Context, addr string, req *PullRequest) (*PullResponse, error)
	Snapshot(ctx context.Context, addr string, req *SnapshotRequest) (*store.SnapshotPage, error)
	Digests(ctx context.Context, addr string) (*DigestResponse, error)
}

// Config configures a Replicator.
type Config struct {
	Cluster string
	Site    string
	// Default is the topology used until the replicated topology record
	// exists (the agent's replication.* settings).
	Default Topology
	// PullWait is how long a peer holds a pull with nothing new (long
	// polling): the upper bound of idle waiting, not of latency.
	PullWait time.Duration
	// MaxBatchBytes bounds one pull's batch.
	MaxBatchBytes int
	// AntiEntropy is how often a mesh link pulls every origin from its
	// peer, not only the peer's own changes.
	AntiEntropy time.Duration
	// RetryMin and RetryMax bound the backoff after a failed pull.
	RetryMin, RetryMax time.Duration
	// LagSample is how often Run records the links' lag for the hour
	// the status page charts (LagHistory); 10s when zero.
	LagSample time.Duration
	// Watermark is how often this replica publishes its summary, which
	// lets every replica purge tombstones and prune its log.
	Watermark time.Duration
	// HistoryRetention: log entries older than this may be pruned once
	// every replica has them.
	HistoryRetention time.Duration
	// MaxMessage bounds a message received.
	MaxMessage int

	// StatusInterval is how often status is pulled from each source
	// (replication.status_interval): the coalescing window.
	StatusInterval time.Duration
	// MaxProtocol is the newest protocol version this replica speaks
	// (ProtocolVersion when zero); tests set it to act as an older agent.
	MaxProtocol uint16
}

// Validate says what is wrong with the settings; it changes nothing.
func (c Config) Validate() error {
	switch {
	case c.Cluster == "":
		return fmt.Errorf("replicator: no cluster name")
	case c.PullWait <= 0 || c.AntiEntropy <= 0 || c.Watermark <= 0 || c.StatusInterval <= 0:
		return fmt.Errorf("replicator: pull_wait, anti_entropy, watermark and status_interval must be positive (start from DefaultConfig)")
	case c.MaxBatchBytes <= 0 || c.MaxMessage <= 0 || c.HistoryRetention <= 0:
		return fmt.Errorf("replicator: max batch bytes, max message and history retention must be positive (start from DefaultConfig)")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("replicator: retry bounds %v..%v: want 0 < min <= max", c.RetryMin, c.RetryMax)
	}
	return c.Default.Validate()
}

// Deps are what a Replicator works with.
type Deps struct {
	Store Store
	// Transport reaches the peers; nil when the caller drives pulls
	// itself (the chaos simulator).
	Transport  Transport
	Membership Membership
	Logger     *slog.Logger     // discarded when nil
	Now        func() time.Time // time.Now when nil
}

// DefaultMaxBatchBytes bounds a pull's batch. A replica that is behind
// gets batches of about 16,000 changes (extensions) instead of 4,000 at
// 1 MB: each batch is a pull, a Raft entry and a commit whatever its size.
// Catching up 200,000 extensions took 3.5 and 4.9 s of CPU instead of 5.2
// and 5.9 s (bench scale, two pairs, load 4-9) for about 100 MB more at
// the peak; caught up, a batch is what is new, far below either bound.
const DefaultMaxBatchBytes = 4 << 20

// DefaultConfig returns the defaults.
func DefaultConfig(cluster, site string) Config {
	return Config{
		Cluster:          cluster,
		Site:             site,
		Default:          Topology{Mode: Mesh},
		PullWait:         20 * time.Second,
		MaxBatchBytes:    DefaultMaxBatchBytes,
		AntiEntropy:      5 * time.Second,
		RetryMin:         100 * time.Millisecond,
		RetryMax:         10 * time.Second,
		Watermark:        30 * time.Second,
		HistoryRetention: 30 * 24 * time.Hour,
		MaxMessage:       MaxMessage,
		StatusInterval:   2 * time.Second,
		LagSample:        10 * time.Second,
	}
}

// Replicator moves changes between this replica and its peers. It pulls
// from the sources the topology and membership name, and answers the pulls
// of others.
type Replicator struct {
	cfg     Config
	st      Store
	tr      Transport
	members Membership
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	links   map[string]*linkState // by peer cluster
	sources map[string]Source     // whom Run pulls from now, by cluster
	served  map[string]uint64     // changes pulled from here, by peer cluster
	topo    Topology

	status statusLinks // status replication: marks and counters per peer
	lag    lagHistory  // the links' lag over the last hour
}

// New returns a replicator of cfg over deps.Store.
func New(cfg Config, deps Deps) (*Replicator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Membership == nil {
		return nil, fmt.Errorf("replicator: New needs a store and a membership")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Replicator{cfg: cfg, st: deps.Store, tr: deps.Transport, members: deps.Membership, now: deps.Now, log: deps.Logger,
		links: map[string]*linkState{}, served: map[string]uint64{}, topo: cfg.Default}
	if err := r.RefreshTopology(); err != nil {
		return nil, err
	}
	return r, nil
}

// Topology returns the topology in force.
func (r *Replicator) Topology() Topology {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.topo
}

// RefreshTopology rereads the replicated topology record.
func (r *Replicator) RefreshTopology() error {
	var t Topology
	err := r.st.View(func(sn *store.Snapshot) error {
		var err error
		t, err = ReadTopology(sn, r.cfg.Default)
		return err
	})
	if err != nil {
		return fmt.Errorf("replicator: topology record: %w", err)
	}
	r.mu.Lock()
	changed := !equalTopology(r.topo, t)
	r.topo = t
	r.mu.Unlock()
	if changed {
		r.log.Info("replication topology", "mode", t.Mode, "order", t.Order, "primary", t.Primary)
	}
	return nil
}

func equalTopology(a, b Topology) bool {
	return a.Mode == b.Mode && a.Primary == b.Primary && slices.Equal(a.Order, b.Order) && slices.Equal(a.SiteTables, b.SiteTables)
}

// SiteOnly reports whether a table is replicated only within the site; the
// store asks it to choose the stream of a write.
func (r *Replicator) SiteOnly(table string) bool { return r.Topology().SiteOnly(table) }

// CheckWrite refuses configuration writes on a replica in primary mode,
// naming the primary. Topology and watermark records may be written
// anywhere: promoting a new primary must work while the old one is down.
func (r *Replicator) CheckWrite(table string) error {
	t := r.Topology()
	if t.Mode != Primary || t.Primary == r.cfg.Cluster || table == TopologyTable || table == WatermarkTable {
		return nil
	}
	return fmt.Errorf("%w: cluster %s is a replica in primary mode; make changes on the primary, cluster %s (or move the primary with 'pbxtopo repl promote CLUSTER')",
		ErrReadOnlyReplica, r.cfg.Cluster, t.Primary)
}

// Sources returns whom to pull from now.
func (r *Replicator) Sources() []Source {
	return r.Topology().Sources(r.cfg.Cluster, r.cfg.Site, r.liveClusters())
}

// want returns the stream filter of a request.
func want(scopes, origins []string) func(store.Stream) bool {
	return func(s store.Stream) bool {
		return (len(scopes) == 0 || slices.Contains(scopes, s.Scope())) &&
			(len(origins) == 0 || slices.Contains(origins, s.Cluster()))
	}
}

// tablesFor returns the table filter of a snapshot for the given scopes.
func (r *Replicator) tablesFor(scopes []string) func(string) bool {
	t := r.Topology()
	return func(table string) bool {
		if t.SiteOnly(table) {
			return r.cfg.Site != "" && slices.Contains(scopes, r.cfg.Site)
		}
		return len(scopes) == 0 || slices.Contains(scopes, "")
	}
}
