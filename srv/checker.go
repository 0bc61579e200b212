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
// §14). A cluster is up when
//
//   - its voice VIP answers SIP OPTIONS (when probing is on), whatever its
//     agents; or
//   - one of its agents is alive or restarting (the membership view,
//     Serf) and its Asterisk answers: on AMI as its agents report it, or
//     to the probe. Where neither is configured, a live agent is enough.
//
// So restarting an agent never drops a working voice cluster, and a live
// agent beside a dead Asterisk (AMI down and OPTIONS unanswered, where
// either is configured) does not keep it in the answers. On top of that
// the hold-down rule (holddown.go) keeps a node that suddenly loses most
// clusters from publishing that view.
type Checker struct {
	cfg      CheckerConfig
	members  Health
	asterisk AsteriskHealth
	src      Source
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex // guards the fields below
	targets map[string]netip.AddrPort
	probes  map[string]*probeState
	up      map[string]bool // the published view; before the first publish, the one saved by the last run
	started bool            // published at least once
	hold    *holdDown
	changed chan struct{}
	runs    bool
}

// CheckerConfig configures the checker (the agent's `dns.probe.*`,
// `dns.hold_down` and `dns.hold_down_window`).
type CheckerConfig struct {
	Probe ProbeConfig
	// HoldDown is how long a node that loses more than half of the
	// clusters within HoldDownWindow keeps its last good view; 0 turns the
	// rule off.
	HoldDown       time.Duration
	HoldDownWindow time.Duration
}

// AsteriskHealth is what the agents beside a cluster's Asterisk servers
// report of them over AMI (the agent reads it from gossip).
type AsteriskHealth interface {
	// Asterisk reports whether an Asterisk of the cluster answers on AMI;
	// known is false when none of the cluster's agents reports (no AMI
	// configured there, or not connected yet).
	Asterisk(cluster string) (up, known bool)
	Changed() <-chan struct{}
}

// CheckerDeps are the Checker's collaborators.
type CheckerDeps struct {
	// Members is the membership view: Up(cluster) when an agent of the
	// cluster is alive or restarting. Nil means no membership (every
	// agent counts as alive).
	Members Health
	// Asterisk is the AMI view of each cluster's Asterisk; nil: none.
	Asterisk AsteriskHealth
	// Source gives the clusters and their VIPs. When it can also write
	// the store's local space (*store.Store can), the published view is
	// kept there for the next start.
	Source Source
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
}

// probeState is what the probe knows of one VIP. Until a verdict (UpAfter
// answers or DownAfter failures in a row), it knows nothing: a live agent
// keeps its cluster up meanwhile, and nothing else does.
type probeState struct {
	known    bool // a verdict was reached
	up       bool // the verdict
	fails    int
	oks      int
	last     time.Time
	rtt      time.Duration
	inFlight bool
}

var _ Health = (*Checker)(nil)

// NewChecker returns a checker; Run does the probing. Until Run has
// published a view, Up answers from the view the last run published (or
// every cluster up), never from a membership that has not caught up yet.
func NewChecker(cfg CheckerConfig, deps CheckerDeps) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Source == nil {
		return nil, fmt.Errorf("srv: checker: no Source of clusters")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	c := &Checker{cfg: cfg, members: deps.Members, asterisk: deps.Asterisk, src: deps.Source, log: deps.Logger, now: deps.Now,
		targets: map[string]netip.AddrPort{}, probes: map[string]*probeState{}, up: map[string]bool{},
		hold: newHoldDown(cfg.HoldDown, cfg.HoldDownWindow), changed: make(chan struct{})}
	c.up = loadView(c.src)
	return c, nil
}

// Validate checks the settings.
func (cfg CheckerConfig) Validate() error {
	if err := cfg.Probe.Validate(); err != nil {
		return err
	}
	if cfg.HoldDown < 0 {
		return configErr("dns.hold_down", "%v: give 0 (off) or a duration such as 60s", cfg.HoldDown)
	}
	if cfg.HoldDown > 0 && cfg.HoldDownWindow <= 0 {
		return configErr("dns.hold_down_window", "%v: give a positive duration such as 10s", cfg.HoldDownWindow)
	}
	return nil
}

// Up reports whether a cluster can take calls.
func (c *Checker) Up(cluster string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if up, ok := c.up[cluster]; ok {
		return up
	}
	if !c.started {
		return true
	}
	return c.compute(cluster)
}

// Hold implements HoldStatus.
func (c *Checker) Hold() Hold {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hold.status()
}

// Changed returns a channel closed at the next change of Up.
func (c *Checker) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// compute combines the sources for one cluster; c.mu is held.
func (c *Checker) compute(cluster string) bool {
	var probe *probeState // nil: no verdict (probing off, or not yet)
	if p, ok := c.probes[cluster]; ok && c.cfg.Probe.Enabled && p.known {
		probe = p
	}
	if probe != nil && probe.up {
		return true // the VIP answers: calls get through, whatever the agents
	}
	if c.members != nil && !c.members.Up(cluster) {
		return false
	}
	if c.asterisk != nil {
		if up, known := c.asterisk.Asterisk(cluster); known {
			return up
		}
	}
	return probe == nil // the probe says the VIP is silent, and nothing says otherwise
}

// publish recomputes every known cluster, applies the hold-down rule and
// wakes the waiters when the published view changed. It returns the new
// view when it changed (to be saved), else nil.
func (c *Checker) publish() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cand := make(map[string]bool, len(c.targets))
	for name := range c.targets {
		cand[name] = c.compute(name)
	}
	wasHeld := c.hold.holding()
	up := c.hold.next(c.up, cand, c.now())
	switch held := c.hold.holding(); {
	case held && !wasHeld && c.hold.startup:
		h := c.hold.status()
		c.log.Info("dns health held at start: answering from the view published before the restart until this node's own view "+
			"agrees (its membership catching up)", "not_yet_up", h.Lost, "until", h.Until.Format(time.RFC3339))
	case held && !wasHeld:
		h := c.hold.status()
		c.log.Warn("dns health held: this node lost more than half of the clusters at once, so it is more likely cut off "+
			"than right; it keeps answering from its last good view", "lost", h.Lost, "known", h.Known, "until", h.Until.Format(time.RFC3339))
	case !held && wasHeld:
		c.log.Info("dns health hold ended", "down", lostFrom(everyUp(cand), up))
	}
	diff := len(up) != len(c.up) || !c.started
	for name, u := range up {
		if old, ok := c.up[name]; !ok || old != u {
			diff = true
			if ok && c.started {
				c.log.Info("cluster health changed", "cluster", name, "up", u)
			}
		}
	}
	c.started = true
	if !diff {
		return nil
	}
	c.up = up
	close(c.changed)
	c.changed = make(chan struct{})
	return up
}

// everyUp returns a view with every cluster of v up.
func everyUp(v map[string]bool) map[string]bool {
	out := make(map[string]bool, len(v))
	for name := range v {
		out[name] = true
	}
	return out
}

// ClusterHealth is the health of one cluster and where it comes from.
type ClusterHealth struct {
	Cluster string `json:"cluster"`
	Up      bool   `json:"up"`
	// Members is the membership view's answer; nil without one.
	Members *bool `json:"members,omitempty"`
	// Asterisk is what the cluster's agents report over AMI; nil when
	// none reports.
	Asterisk *bool `json:"asterisk,omitempty"`
	// Held is true when the hold-down rule keeps the cluster up although
	// this node's own view has it down.
	Held bool `json:"held,omitempty"`
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
		own := c.compute(name)
		up, ok := c.up[name]
		if !ok {
			up = own
		}
		h := ClusterHealth{Cluster: name, Up: up, Held: up && !own && c.hold.holding()}
		if c.members != nil {
			m := c.members.Up(name)
			h.Members = &m
		}
		if c.asterisk != nil {
			if a, known := c.asterisk.Asterisk(name); known {
				h.Asterisk = &a
			}
		}
		if p, ok := c.probes[name]; ok && c.cfg.Probe.Enabled {
			if p.known {
				u := p.up
				h.Probe = &u
			}
			h.Target, h.LastProbe = target.String(), p.last
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
	if pc := c.cfg.Probe; pc.Enabled {
		var err error
		if p, err = newProber(pc.Source, pc.Timeout); err != nil {
			return fmt.Errorf("srv: SIP probe socket (dns.probe.source %q): %w", pc.Source, err)
		}
		defer p.close()
		t := time.NewTicker(pc.Interval)
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
	var mc, ac <-chan struct{}
	var holdEnds *time.Timer
	defer func() {
		if holdEnds != nil {
			holdEnds.Stop()
		}
	}()
	holdTick := make(chan struct{}, 1)
	reload := true
	for {
		zc := c.src.Changed()
		if c.members != nil {
			mc = c.members.Changed()
		}
		if c.asterisk != nil {
			ac = c.asterisk.Changed()
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
		if view := c.publish(); view != nil {
			saveView(ctx, c.src, view, c.log)
		}
		if h := c.Hold(); h.Active() && holdEnds == nil {
			holdEnds = time.AfterFunc(time.Until(h.Until), func() { holdTick <- struct{}{} })
		} else if !h.Active() && holdEnds != nil {
			holdEnds.Stop()
			holdEnds = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-zc:
			reload = true
		case <-mc:
		case <-ac:
		case <-holdTick:
			holdEnds = nil
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
			c.probes[cl.Name] = &probeState{}
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
		if (!st.known || !st.up) && st.oks >= c.cfg.Probe.UpAfter {
			if st.known {
				c.log.Info("voice VIP answers SIP OPTIONS again", "cluster", r.cluster, "vip", r.target.String())
			}
			st.known, st.up = true, true
		}
		return
	}
	st.oks = 0
	st.fails++
	if (!st.known || st.up) && st.fails >= c.cfg.Probe.DownAfter {
		st.known, st.up = true, false
		c.log.Warn("voice VIP does not answer SIP OPTIONS", "cluster", r.cluster, "vip", r.target.String(), "failed", st.fails)
	}
}
