package srv

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// Checker is the health of the clusters for DNS and DUNDi (DESIGN.md
// §14): a cluster is up if any of its members is alive (the membership
// view, Serf) or its voice VIP answers SIP OPTIONS (when probing is on);
// it is down only when both fail, so restarting an agent never drops a
// working voice cluster, and a lost probe never drops one whose agents
// are alive.
type Checker struct {
	cfg     ProbeConfig
	members Health
	src     Source
	log     *slog.Logger

	mu      sync.Mutex // guards the fields below
	targets map[string]netip.AddrPort
	probes  map[string]*probeState
	up      map[string]bool // last published state
	changed chan struct{}
	runs    bool
}

// CheckerDeps are the Checker's collaborators.
type CheckerDeps struct {
	// Members is the membership view: Up(cluster) when a member is alive.
	// Nil means no membership (health is the probe alone, or all up).
	Members Health
	// Source gives the clusters and their VIPs.
	Source Source
	Logger *slog.Logger
}

// probeState is what the probe knows of one VIP. A VIP is up until
// proven down: a cluster is not dropped before its first probe.
type probeState struct {
	up       bool
	fails    int
	oks      int
	last     time.Time
	rtt      time.Duration
	inFlight bool
}

var _ Health = (*Checker)(nil)

// NewChecker returns a checker; Run does the probing.
func NewChecker(cfg ProbeConfig, deps CheckerDeps) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Source == nil {
		return nil, fmt.Errorf("srv: checker: no Source of clusters")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{cfg: cfg, members: deps.Members, src: deps.Source, log: deps.Logger,
		targets: map[string]netip.AddrPort{}, probes: map[string]*probeState{}, up: map[string]bool{},
		changed: make(chan struct{})}, nil
}

// Up reports whether a cluster can take calls.
func (c *Checker) Up(cluster string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if up, ok := c.up[cluster]; ok {
		return up
	}
	return c.compute(cluster)
}

// Changed returns a channel closed at the next change of Up.
func (c *Checker) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// compute combines the sources for one cluster; c.mu is held.
func (c *Checker) compute(cluster string) bool {
	probeUp := true
	if p, ok := c.probes[cluster]; ok && c.cfg.Enabled {
		probeUp = p.up
	}
	switch {
	case c.members == nil:
		return probeUp
	case !c.cfg.Enabled:
		return c.members.Up(cluster)
	}
	return c.members.Up(cluster) || probeUp
}

// publish recomputes every known cluster and wakes the waiters when
// anything changed.
func (c *Checker) publish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	up := make(map[string]bool, len(c.targets))
	diff := false
	for name := range c.targets {
		up[name] = c.compute(name)
		if old, ok := c.up[name]; !ok || old != up[name] {
			diff = true
		}
	}
	if len(up) != len(c.up) {
		diff = true
	}
	if !diff {
		return
	}
	for name, u := range up {
		if old, ok := c.up[name]; ok && old != u {
			c.log.Info("cluster health changed", "cluster", name, "up", u)
		}
	}
	c.up = up
	close(c.changed)
	c.changed = make(chan struct{})
}

// ClusterHealth is the health of one cluster and where it comes from.
type ClusterHealth struct {
	Cluster string `json:"cluster"`
	Up      bool   `json:"up"`
	// Members is the membership view's answer; nil without one.
	Members *bool `json:"members,omitempty"`
	// Probe is the SIP OPTIONS probe's answer; nil when probing is off.
	Probe     *bool     `json:"probe,omitempty"`
	Target    string    `json:"target,omitempty"`
	LastProbe time.Time `json:"last_probe,omitzero"`
	RTTMillis float64   `json:"rtt_ms,omitempty"`
}

// Status returns the health of every known cluster, by name.
func (c *Checker) Status() []ClusterHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []ClusterHealth
	for name, target := range c.targets {
		h := ClusterHealth{Cluster: name, Up: c.compute(name)}
		if c.members != nil {
			m := c.members.Up(name)
			h.Members = &m
		}
		if p, ok := c.probes[name]; ok && c.cfg.Enabled {
			u := p.up
			h.Probe, h.Target, h.LastProbe = &u, target.String(), p.last
			h.RTTMillis = float64(p.rtt.Microseconds()) / 1000
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out
}

type probeResult struct {
	cluster string
	target  netip.AddrPort
	ok      bool
	rtt     time.Duration
}

// Run follows the clusters and the membership view and, when probing is
// on, probes every VIP each interval, until ctx ends. Call it once.
func (c *Checker) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.runs {
		c.mu.Unlock()
		return fmt.Errorf("srv: checker: Run called twice")
	}
	c.runs = true
	c.mu.Unlock()
	var p *prober
	var tick <-chan time.Time
	if c.cfg.Enabled {
		var err error
		if p, err = newProber(c.cfg.Source, c.cfg.Timeout); err != nil {
			return fmt.Errorf("srv: SIP probe socket (dns.probe.source %q): %w", c.cfg.Source, err)
		}
		defer p.close()
		t := time.NewTicker(c.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	results := make(chan probeResult)
	var wg sync.WaitGroup
	defer wg.Wait()
	startProbes := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for name, target := range c.targets {
			st := c.probes[name]
			if st.inFlight {
				continue
			}
			st.inFlight = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, rtt := p.probe(ctx, target)
				select {
				case results <- probeResult{name, target, ok, rtt}:
				case <-ctx.Done():
				}
			}()
		}
	}
	var mc <-chan struct{}
	reload := true
	for {
		zc := c.src.Changed()
		if c.members != nil {
			mc = c.members.Changed()
		}
		if reload {
			if err := c.loadTargets(); err != nil {
				c.log.Error("health: cannot read the clusters", "err", err)
			}
			if p != nil {
				startProbes()
			}
			reload = false
		}
		c.publish()
		select {
		case <-ctx.Done():
			return nil
		case <-zc:
			reload = true
		case <-mc:
		case <-tick:
			startProbes()
		case r := <-results:
			c.record(r)
		}
	}
}

// loadTargets reads the clusters' VIPs; a cluster whose VIP or port
// changed starts over as up.
func (c *Checker) loadTargets() error {
	var clusters []Cluster
	err := c.src.View(func(sn *store.Snapshot) error {
		var err error
		clusters, _, err = LoadClusters(sn)
		return err
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	targets := map[string]netip.AddrPort{}
	for _, cl := range clusters {
		t := netip.AddrPortFrom(cl.VIP, cl.SIPPort)
		targets[cl.Name] = t
		if old, ok := c.targets[cl.Name]; !ok || old != t {
			c.probes[cl.Name] = &probeState{up: true}
		}
	}
	for name := range c.probes {
		if _, ok := targets[name]; !ok {
			delete(c.probes, name)
		}
	}
	c.targets = targets
	return nil
}

// record counts a probe's result towards its VIP's state.
func (c *Checker) record(r probeResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.probes[r.cluster]
	if !ok || c.targets[r.cluster] != r.target {
		return // the cluster changed while the probe was out
	}
	st.inFlight, st.last = false, time.Now()
	if r.ok {
		st.rtt, st.fails = r.rtt, 0
		st.oks++
		if !st.up && st.oks >= c.cfg.UpAfter {
			st.up = true
			c.log.Info("voice VIP answers SIP OPTIONS again", "cluster", r.cluster, "vip", r.target.String())
		}
		return
	}
	st.oks = 0
	st.fails++
	if st.up && st.fails >= c.cfg.DownAfter {
		st.up = false
		c.log.Warn("voice VIP does not answer SIP OPTIONS", "cluster", r.cluster, "vip", r.target.String(), "failed", st.fails)
	}
}
