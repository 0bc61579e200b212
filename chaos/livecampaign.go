package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/replicatortest"
	"github.com/pbxtopo/pbxtopo/service"
)

// LiveConfig configures a live campaign: the production write path, Raft
// and the replicator's own loop in one process, in real time.
type LiveConfig struct {
	Seed     int64
	Clusters int // 2..5; cluster i is "c<i>" at site "s<i/2>"
	Nodes    int // Raft nodes per cluster
	Mode     replicator.Mode
	Duration time.Duration // real time of the workload and the faults
	Rate     int           // operations started per second
	Numbers  int           // extension numbers the workload starts with
	Ops      []string      // of LiveOps; empty: all
	Faults   []string      // of LiveFaults; empty: all; ["none"]: no faults
	// ConvergeBound is the liveness bound: after the final heal, every node
	// must hold the same data within it.
	ConvergeBound time.Duration
	Dir           string // data dirs (kept on failure)
	Logger        *slog.Logger
}

// LiveFaults are the faults a live campaign injects.
var LiveFaults = []string{"partition", "isolate", "leader", "restart", "delay", "loss", "replay"}

func (cfg *LiveConfig) defaults() error {
	if cfg.Clusters == 0 {
		cfg.Clusters = 3
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Mode == "" {
		cfg.Mode = replicator.Mesh
	}
	if cfg.Duration == 0 {
		cfg.Duration = 4 * time.Second
	}
	if cfg.Rate == 0 {
		cfg.Rate = 40
	}
	if cfg.Numbers == 0 {
		cfg.Numbers = 4
	}
	if cfg.ConvergeBound == 0 {
		cfg.ConvergeBound = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clusters < 2 || cfg.Clusters > 5 {
		return fmt.Errorf("chaos: %d clusters: the live mode runs 2 to 5", cfg.Clusters)
	}
	if cfg.Nodes < 1 || cfg.Nodes > 5 {
		return fmt.Errorf("chaos: %d nodes per cluster: the live mode runs 1 to 5", cfg.Nodes)
	}
	if len(cfg.Ops) == 0 {
		cfg.Ops = LiveOps
	}
	for _, o := range cfg.Ops {
		if !slices.Contains(LiveOps, o) {
			return fmt.Errorf("chaos: unknown operation %q: use %s", o, strings.Join(LiveOps, ", "))
		}
	}
	if len(cfg.Faults) == 0 {
		cfg.Faults = LiveFaults
	}
	if slices.Equal(cfg.Faults, []string{"none"}) {
		cfg.Faults = nil
	}
	for _, f := range cfg.Faults {
		if !slices.Contains(LiveFaults, f) {
			return fmt.Errorf("chaos: unknown live fault %q: use %s (or none)", f, strings.Join(LiveFaults, ", "))
		}
	}
	return nil
}

// liveCampaign is one run.
type liveCampaign struct {
	cfg  LiveConfig
	ent  *liveEnt
	w    *liveWorkload
	rep  *Report
	logM sync.Mutex
	log  []string
	t0   time.Time

	pollers   []*poller
	pwg       sync.WaitGroup
	stopPolls context.CancelFunc
}

func (c *liveCampaign) note(format string, args ...any) {
	c.logM.Lock()
	defer c.logM.Unlock()
	c.log = append(c.log, fmt.Sprintf("%8s %s", time.Since(c.t0).Round(time.Millisecond), fmt.Sprintf(format, args...)))
}

// RunLive runs one live campaign: start the enterprise, seed it, run the
// workload and the faults for Duration, heal, wait for every node to hold
// the same data, then check. On failure the data dirs, the history and the
// report are kept in cfg.Dir and the report names it.
func RunLive(cfg LiveConfig) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "pbxtopo-chaos-live-")
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	c := newLiveCampaign(cfg)
	defer c.ent.close()
	if err := c.run(); err != nil {
		c.rep.Problems = append(c.rep.Problems, err.Error())
	}
	c.ent.close()
	if c.rep.OK() {
		os.RemoveAll(cfg.Dir)
	} else {
		c.rep.Dir = cfg.Dir
		var lines []string
		if c.w != nil {
			for _, op := range c.w.h.all() {
				lines = append(lines, fmt.Sprintf("%8s %s sets %v read %v", op.Sent.Sub(c.t0).Round(time.Millisecond), op, op.Sets, op.Read))
			}
		}
		os.WriteFile(filepath.Join(cfg.Dir, "history.log"), []byte(strings.Join(append(c.log, lines...), "\n")+"\n"), 0o644)
		if b, err := json.MarshalIndent(c.rep, "", "  "); err == nil {
			os.WriteFile(filepath.Join(cfg.Dir, "report.json"), b, 0o644)
		}
	}
	return c.rep, nil
}

// newLiveCampaign makes the campaign of cfg (with its defaults): nothing
// runs until start.
func newLiveCampaign(cfg LiveConfig) *liveCampaign {
	return &liveCampaign{cfg: cfg, t0: time.Now(), ent: newLiveEnt(cfg),
		rep: &Report{Kind: "live", Seed: cfg.Seed, Mode: string(cfg.Mode), Clusters: cfg.Clusters, Nodes: cfg.Nodes, Faults: map[string]int{}}}
}

func (c *liveCampaign) run() error {
	if err := c.start(); err != nil {
		return err
	}
	c.load()
	return c.finish()
}

// start starts every node, waits for the leaders, seeds the enterprise
// and starts the pollers.
func (c *liveCampaign) start() error {
	e := c.ent
	for _, n := range e.nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e.waitLeaders(ctx); err != nil {
		return err
	}
	c.w = &liveWorkload{ent: e, h: &liveHistory{start: c.t0}, keys: &keySpace{next: 5000, deletes: map[string]time.Time{}}, kinds: c.cfg.Ops}
	if err := c.seed(ctx); err != nil {
		return err
	}
	c.note("seeded")
	var pctx context.Context
	pctx, c.stopPolls = context.WithCancel(context.Background())
	for _, n := range e.nodes {
		p := newPoller(n, c.w.keys, c.cfg.Seed*31+int64(n.i))
		c.pollers = append(c.pollers, p)
		c.pwg.Add(1)
		go func() { defer c.pwg.Done(); p.run(pctx) }()
	}
	return nil
}

// load runs the random workload and the faults for the campaign's
// duration, and waits for the operations in flight.
func (c *liveCampaign) load() {
	until := time.Now().Add(c.cfg.Duration)
	var fwg sync.WaitGroup
	fwg.Add(1)
	go func() { defer fwg.Done(); c.faults(until) }()
	tick := time.NewTicker(time.Second / time.Duration(c.cfg.Rate))
	for time.Now().Before(until) {
		<-tick.C
		if c.w.inflight.Load() < 12 {
			c.w.start()
		}
	}
	tick.Stop()
	fwg.Wait()
	// Every operation has a deadline; one that outlives it by far hangs.
	done := make(chan struct{})
	go func() { c.w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(opTimeout + 30*time.Second):
		c.rep.Problems = append(c.rep.Problems, fmt.Sprintf("%d operations still had no answer %s after their deadline (a hang; the goroutine dump of 'pbxtopo chaos run' with SIGQUIT shows where)",
			c.w.inflight.Load(), 30*time.Second))
	}
}

// finish heals everything, waits until every node holds the same data
// (within the bound), stops the pollers and checks the history.
func (c *liveCampaign) finish() error {
	e := c.ent
	defer c.pwg.Wait()
	defer c.stopPolls()
	e.healNetwork()
	for _, n := range e.nodes {
		if !n.up() {
			if err := n.start(); err != nil {
				return err
			}
		}
	}
	c.note("heal all")
	healed := time.Now()
	var why string
	for time.Since(healed) < c.cfg.ConvergeBound {
		if views, ok := e.views(); ok {
			var conv bool
			if conv, why = converged(views); conv {
				c.rep.Converged = true
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // polling for convergence, with the deadline above
	}
	c.rep.ConvergeTime = time.Since(healed)
	c.stopPolls()
	c.pwg.Wait()
	if !c.rep.Converged {
		c.rep.Problems = append(c.rep.Problems, fmt.Sprintf("not converged %s after the heal: %s; nodes: %s", c.cfg.ConvergeBound, why, e.describe()))
	}
	ops := c.w.h.all()
	for _, op := range ops {
		if !op.Acked {
			if c.rep.Failed == nil {
				c.rep.Failed = map[string]int{}
			}
			c.rep.Failed[failReason(op)]++
		}
	}
	if n, m := c.w.probes.Load(), c.w.leaderFollower.Load(); n+m > 0 {
		c.rep.Probes = map[string]int{"probe-concurrent": int(n), "probe-leader-follower": int(m)}
	}
	res := checkLive(e, ops)
	c.rep.Operations = len(ops)
	c.rep.Acked, c.rep.Refused, c.rep.Uncertain = res.Acked, res.Refused, res.Unknown
	c.rep.Lost = res.Lost
	c.rep.ConflictsSeen = res.Conflicts
	c.rep.Problems = append(c.rep.Problems, res.Problems...)
	for _, p := range c.pollers {
		c.rep.Regressions += p.count
		c.rep.Reads += p.reads
		c.rep.Problems = append(c.rep.Problems, p.problems...)
	}
	for _, n := range e.nodes {
		if p := n.parts.Load(); p != nil {
			s := p.replTr.Stats()
			c.rep.Messages += s.Requests
			c.rep.Dropped += s.Lost
			c.rep.Duplicated += s.Replayed
		}
	}
	return nil
}

// seed writes, at the first cluster's leader, the sites, the clusters,
// the topology and one extension per number, then waits until every node
// holds them.
func (c *liveCampaign) seed(ctx context.Context) error {
	e := c.ent
	// A node of the first cluster: a follower forwards to the leader.
	// Each step is retried until it is in, as an operator would: a
	// leader change may fail an answer whose write went in.
	n := e.clusters[0].nodes[0]
	svc := n.parts.Load().svc
	retry := func(what string, step func() error) error {
		for {
			err := step()
			if err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("chaos: seed %s: %w", what, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	actx := service.WithAuthor(ctx, "chaos:seed")
	sites := map[string]bool{}
	for _, cl := range e.clusters {
		if !sites[cl.site] {
			sites[cl.site] = true
			if err := retry("site "+cl.site, func() error {
				_, err := svc.Put(actx, "sites", pbx.Fields{"name": cl.site}, service.PutOptions{})
				return err
			}); err != nil {
				return err
			}
		}
	}
	for i, cl := range e.clusters {
		f := pbx.Fields{"name": cl.name, "site": cl.site, "voice_vip": fmt.Sprintf("10.0.%d.1", i)}
		if err := retry("cluster "+cl.name, func() error { _, err := svc.Put(actx, "clusters", f, service.PutOptions{}); return err }); err != nil {
			return err
		}
	}
	t := e.topology()
	if err := retry("the topology", func() error {
		top := c.w.h.begin("topology", n, true, nil)
		top.Summary = "the initial topology"
		for _, f := range topologyFields {
			top.Sets[slot{replicator.TopologyTable, replicator.TopologyKey, f}] = t.Fields()[f]
		}
		reply, err := svc.SetTopology(top.send(ctx), service.TopologyChange{Mode: string(t.Mode), Order: t.Order, Primary: t.Primary})
		top.end(reply, err)
		return err
	}); err != nil {
		return err
	}
	var keys []string
	for i, num := range c.w.keys.fresh(c.cfg.Numbers) {
		cl := e.clusters[i%len(e.clusters)].name
		key := keyOf(cl, num)
		if err := retry("extension "+key, func() error {
			if op := c.w.create(n, num, cl); op != nil && !op.Acked {
				return errors.New(op.Err)
			}
			if _, ok, _ := n.parts.Load().local.Get("extensions", key); !ok {
				return fmt.Errorf("%s is not there yet", key)
			}
			return nil
		}); err != nil {
			return err
		}
		c.w.keys.add(num)
		keys = append(keys, key)
	}
	for _, n := range e.nodes {
		st := n.parts.Load().local
		for {
			have := 0
			for _, k := range keys {
				if _, ok, _ := st.Get("extensions", k); ok {
					have++
				}
			}
			if have == len(keys) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("chaos: the seed did not reach %s: %w", n.name, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// faults injects one fault at a time until the end of the workload.
func (c *liveCampaign) faults(until time.Time) {
	e := c.ent
	if len(c.cfg.Faults) == 0 {
		return
	}
	pause := func(d time.Duration) {
		if rest := time.Until(until); d > rest {
			d = max(rest, 0)
		}
		time.Sleep(d) // the fault schedule: holding a fault for a while is the point
	}
	for time.Now().Before(until) {
		pause(time.Duration(100+e.rnd.Intn(500)) * time.Millisecond)
		if !time.Now().Before(until) {
			return
		}
		kind := c.cfg.Faults[e.rnd.Intn(len(c.cfg.Faults))]
		undo := c.inject(kind)
		c.rep.Faults[kind]++
		pause(time.Duration(300+e.rnd.Intn(1200)) * time.Millisecond)
		undo()
	}
}

// inject starts a fault and returns how to end it.
func (c *liveCampaign) inject(kind string) (undo func()) {
	e := c.ent
	heal := func() { e.healNetwork(); c.note("heal") }
	isolate := func(n *liveNode) {
		for _, o := range e.nodes {
			if o != n {
				e.block(n, o, true)
			}
		}
		e.applyNetwork()
	}
	switch kind {
	case "partition":
		perm := e.rnd.Perm(len(e.clusters))
		cut := 1 + e.rnd.Intn(len(e.clusters)-1)
		var a, b []*liveCluster
		for i, ci := range perm {
			if i < cut {
				a = append(a, e.clusters[ci])
			} else {
				b = append(b, e.clusters[ci])
			}
		}
		c.note("%s", e.partition(a, b))
		return heal
	case "isolate":
		n := e.nodes[e.rnd.Intn(len(e.nodes))]
		isolate(n)
		c.note("isolate %s", n.name)
		return heal
	case "leader":
		cl := e.clusters[e.rnd.Intn(len(e.clusters))]
		n := cl.leader()
		if n == nil {
			return func() {}
		}
		isolate(n)
		c.note("isolate the leader %s", n.name)
		return heal
	case "restart":
		n := e.nodes[e.rnd.Intn(len(e.nodes))]
		if l := n.cluster.leader(); l != nil && e.rnd.Intn(2) == 0 {
			n = l
		}
		p := n.parts.Load()
		if p == nil {
			return func() {}
		}
		// A snapshot on disk, then more writes, then the stop: the node
		// restarts over a snapshot older than its store.
		err := p.rs.Raft().Snapshot().Error()
		time.Sleep(time.Duration(100+e.rnd.Intn(400)) * time.Millisecond) // the fault schedule
		n.stop()
		c.note("stop %s (snapshot before: %s)", n.name, errString(err))
		return func() {
			if err := n.start(); err != nil {
				c.note("restart %s: %v", n.name, err)
				return
			}
			c.note("restart %s", n.name)
		}
	case "delay":
		e.setFaults(replicatortest.Faults{Delay: 20 * time.Millisecond, Jitter: 40 * time.Millisecond})
		c.note("replication delay 20-60ms")
	case "loss":
		e.setFaults(replicatortest.Faults{Loss: 0.25})
		c.note("replication loss 25%%")
	case "replay":
		e.setFaults(replicatortest.Faults{Replay: 0.3, Jitter: 5 * time.Millisecond})
		c.note("replication replays 30%%")
	}
	return func() { e.setFaults(replicatortest.Faults{}); c.note("no transport faults") }
}

// failReason names why an operation was not acknowledged, for the report.
func failReason(op *liveOp) string {
	if op.Code != 0 {
		return fmt.Sprint(op.Code)
	}
	if strings.Contains(op.Err, "deadline") || strings.Contains(op.Err, "may still commit") {
		return "timeout"
	}
	return "other"
}

func errString(err error) string {
	if err == nil {
		return "taken"
	}
	return err.Error()
}
