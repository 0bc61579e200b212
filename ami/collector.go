package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Config configures a Collector.
type Config struct {
	Cluster string // the cluster this node belongs to (the replica)
	Node    string // this node's name; part of every key it writes
	// Refresh is the interval of full refreshes by actions; events keep
	// the status current in between (ami.refresh).
	Refresh time.Duration
	// Flush is the coalescing interval: changes are written to the store
	// at most once per Flush, and only entries that changed (ami.flush).
	// Zero writes every change at once (for measurements only).
	Flush time.Duration
	// Heartbeat rewrites the health entry even when nothing changed, so
	// readers can tell a silent node from a dead one.
	Heartbeat time.Duration
	// LastmsJitter: a change of the qualify round trip smaller than this
	// (and than a quarter of the last written value) is not worth a write.
	LastmsJitter int
	// CallForwardFamily is the AstDB family that holds call forward
	// targets by extension (FreePBX: "CF"); "" skips call forward.
	CallForwardFamily string
	// ActionTimeout bounds one refresh action (a list included).
	ActionTimeout time.Duration
	// Concurrency is the number of per-extension actions (MailboxCount,
	// DBGet, SIPshowpeer) in flight during a refresh.
	Concurrency int
	// VIP is the address:port probed with SIP OPTIONS; "" takes the
	// cluster's voice_vip and sip_port from the store; "off" disables.
	VIP string
	// ProbeTimeout bounds one VIP probe.
	ProbeTimeout time.Duration
}

// DefaultConfig returns the defaults for a node of a cluster.
func DefaultConfig(cluster, node string) Config {
	return Config{Cluster: cluster, Node: node, Refresh: 5 * time.Minute, Flush: 5 * time.Second,
		Heartbeat: 30 * time.Second, LastmsJitter: 5, CallForwardFamily: "CF", ActionTimeout: 30 * time.Second,
		Concurrency: 8, ProbeTimeout: 2 * time.Second}
}

// Validate says what is wrong with the settings.
func (c Config) Validate() error {
	switch {
	case c.Cluster == "" || c.Node == "":
		return fmt.Errorf("%w: the collector needs the node's cluster and node name (cluster, node)", ErrInvalid)
	case c.Refresh <= 0:
		return fmt.Errorf("%w: ami.refresh must be positive, e.g. 5m", ErrInvalid)
	case c.Flush < 0:
		return fmt.Errorf("%w: ami.flush must not be negative, e.g. 5s", ErrInvalid)
	case c.Heartbeat <= 0 || c.ActionTimeout <= 0 || c.ProbeTimeout <= 0:
		return fmt.Errorf("%w: collector intervals must be positive", ErrInvalid)
	}
	return nil
}

// StatusStore is what the collector needs of the store.
type StatusStore interface {
	View(fn func(*store.Snapshot) error) error
	PutStatus(ctx context.Context, entries map[string][]byte) error
}

// Sender sends actions to Asterisk: a *Client.
type Sender interface {
	Send(ctx context.Context, a Action) (*Response, error)
	State() ConnState
}

// Deps are the collector's collaborators.
type Deps struct {
	Store  StatusStore
	AMI    Sender // nil: the collector makes a Client from ClientConfig
	Logger *slog.Logger
	Now    func() time.Time
	// Probe answers whether the voice VIP answers SIP; nil uses ProbeSIP.
	Probe func(ctx context.Context, addr string, timeout time.Duration) (time.Duration, error)
	// LocalAddr reports whether an IP is on this host (the node holds the
	// VIP); nil uses the host's interfaces.
	LocalAddr func(ip string) bool
}

// Collector keeps the status of its cluster's extensions and trunks, and
// its node's health, in the store's status space.
type Collector struct {
	cfg    Config
	st     StatusStore
	ami    Sender
	client *Client // when the collector made its own
	log    *slog.Logger
	now    func() time.Time
	probe  func(ctx context.Context, addr string, timeout time.Duration) (time.Duration, error)
	local  func(ip string) bool

	refreshNow chan struct{}
	flushNow   chan struct{}

	mu        sync.Mutex
	ix        *index
	exts      map[string]*extState
	trunks    map[string]*trunkState
	dirty     map[string]bool // ext names; "trunk:"+name for trunks
	written   map[string]pbx.Fields
	health    healthState
	feed      changeFeed
	stats     Stats
	techs     map[string]bool // actions this Asterisk does not know
	warned    map[string]bool // refresh failures already logged
	loadedOwn bool
}

// Stats counts what the collector did.
type Stats struct {
	Events         uint64 `json:"events"`          // events applied
	Ignored        uint64 `json:"ignored"`         // events about nothing we watch
	Refreshes      uint64 `json:"refreshes"`       // full refreshes done
	Flushes        uint64 `json:"flushes"`         // store writes
	EntriesWritten uint64 `json:"entries_written"` // status entries written
	BytesWritten   uint64 `json:"bytes_written"`   // their keys and values
}

// New returns a collector. With deps.AMI nil it makes its own Client from
// client, which Run then runs.
func New(cfg Config, client ClientConfig, deps Deps) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("%w: the collector needs a store", ErrInvalid)
	}
	c := &Collector{cfg: cfg, st: deps.Store, ami: deps.AMI, log: deps.Logger, now: deps.Now, probe: deps.Probe,
		local: deps.LocalAddr, refreshNow: make(chan struct{}, 1), flushNow: make(chan struct{}, 1),
		exts: map[string]*extState{}, trunks: map[string]*trunkState{}, dirty: map[string]bool{},
		written: map[string]pbx.Fields{}, techs: map[string]bool{}, warned: map[string]bool{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.probe == nil {
		c.probe = ProbeSIP
	}
	if c.local == nil {
		c.local = IsLocalIP
	}
	if c.ami == nil {
		if err := client.Validate(); err != nil {
			return nil, err
		}
		client.Events = "on"
		c.client = NewClient(client, ClientHooks{OnEvent: c.HandleEvent, OnConnect: func(*Conn) { c.RequestRefresh() }}, c.log)
		c.ami = c.client
	}
	c.health.init()
	return c, nil
}

// Client returns the AMI client the collector made, or nil.
func (c *Collector) Client() *Client { return c.client }

// Stats returns the counters.
func (c *Collector) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// RequestRefresh asks for a full refresh soon (after a reconnect, a
// reload, a configuration change).
func (c *Collector) RequestRefresh() {
	select {
	case c.refreshNow <- struct{}{}:
	default:
	}
}

// Run collects until ctx ends: the AMI client (when the collector made
// it), full refreshes, the flush loop and the VIP probe.
func (c *Collector) Run(ctx context.Context) error {
	if err := c.loadIndex(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	if c.client != nil {
		wg.Add(1)
		go func() { defer wg.Done(); c.client.Run(ctx) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); c.refreshLoop(ctx) }()
	go func() { defer wg.Done(); c.probeLoop(ctx) }()
	c.flushLoop(ctx)
	wg.Wait()
	// A last write so that a stopped node says so.
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.mu.Lock()
	c.health.stopped = true
	c.mu.Unlock()
	_, err := c.Flush(fctx)
	if err != nil && !errors.Is(err, store.ErrClosed) {
		return err
	}
	return nil
}

func (c *Collector) refreshLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.Refresh)
	defer t.Stop()
	changed := c.configChanges()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.refreshNow:
		case <-changed:
			// Every replicated change anywhere lands here: refresh only
			// when this cluster's extensions or trunks changed.
			changed = c.configChanges()
			if moved, err := c.reloadIndex(); err != nil || !moved {
				if err != nil {
					c.log.Warn("cannot read the cluster's extensions", "err", err)
				}
				continue
			}
		}
		if c.ami.State().State != StateConnected {
			continue
		}
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("AMI refresh incomplete", "err", err)
		}
	}
}

// configChanges returns the store's change signal, when it has one.
func (c *Collector) configChanges() <-chan struct{} {
	if ch, ok := c.st.(interface{ Changed() <-chan struct{} }); ok {
		return ch.Changed()
	}
	return nil
}

func (c *Collector) flushLoop(ctx context.Context) {
	interval := c.cfg.Flush
	if interval == 0 {
		interval = time.Second // only the heartbeat; changes are written at once
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.flushNow:
		}
		if _, err := c.Flush(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("cannot write status to the store", "err", err)
		}
	}
}

// reloadIndex rereads the index and reports whether the cluster's
// extensions, mailboxes or trunks changed.
func (c *Collector) reloadIndex() (bool, error) {
	c.mu.Lock()
	old := c.ix
	c.mu.Unlock()
	if err := c.loadIndex(); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return old == nil || !old.same(c.ix), nil
}

// loadIndex rereads the cluster's extensions and trunks.
func (c *Collector) loadIndex() error {
	var ix *index
	err := c.st.View(func(sn *store.Snapshot) error {
		var err error
		ix, err = loadIndex(sn, c.cfg.Cluster)
		if err != nil {
			return err
		}
		if c.cfg.VIP == "" {
			c.mu.Lock()
			c.health.vip = clusterVIP(sn, c.cfg.Cluster)
			c.mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.VIP != "" && c.cfg.VIP != "off" {
		c.health.vip = c.cfg.VIP
	}
	c.ix = ix
	for ext := range c.exts {
		if !ix.exts[ext] {
			delete(c.exts, ext)
			c.dirty[ext] = true // written as a removal
		}
	}
	for ext := range ix.exts {
		if c.exts[ext] == nil {
			c.exts[ext] = &extState{}
			c.dirty[ext] = true
		}
	}
	for name := range c.trunks {
		if ix.trunks[name] == nil {
			delete(c.trunks, name)
			c.dirty["trunk:"+name] = true
		}
	}
	for name := range ix.trunks {
		if c.trunks[name] == nil {
			c.trunks[name] = &trunkState{rttMs: -1}
			c.dirty["trunk:"+name] = true
		}
	}
	return nil
}
