package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

// FaultKinds are the faults a campaign can inject.
var FaultKinds = []string{"partition", "oneway", "bridge", "loss", "duplicate", "reorder", "delay", "crash", "pause", "skew"}

// Config configures one campaign: a run with a random workload and random
// faults, then a final heal and a quiet period, then the checkers.
type Config struct {
	Seed     int64
	Clusters int
	Mode     replicator.Mode
	Faults   []string      // of FaultKinds; empty: all
	Duration time.Duration // simulated time of the fault phase
	Rate     int           // client writes per simulated second
	Keys     int           // records the workload writes (small: replicas collide)
	// ConvergeBound is the liveness bound: after the faults stop, the
	// replicas must converge within it.
	ConvergeBound time.Duration
	Dir           string // data dirs (kept on failure)
}

// Report is the outcome of one campaign.
type Report struct {
	// Kind is "simulated" (the replication core over the simulated network
	// and clock: the seed replays the run exactly) or "live" (the
	// production code in real time: seeded, not replayable).
	Kind          string         `json:"kind"`
	Seed          int64          `json:"seed"`
	Mode          string         `json:"mode"`
	Clusters      int            `json:"clusters"`
	Nodes         int            `json:"nodes_per_cluster,omitempty"`
	Deterministic bool           `json:"deterministic"`
	Operations    int            `json:"operations"`
	Acked         int            `json:"acked"`
	Refused       int            `json:"refused"`
	Faults        map[string]int `json:"faults"`
	Messages      int            `json:"messages"`
	Dropped       int            `json:"dropped"`
	Duplicated    int            `json:"duplicated"`
	Snapshots     int            `json:"snapshots"`
	Lost          int            `json:"lost"`
	Stale         int            `json:"stale"`
	Uncertain     int            `json:"uncertain,omitempty"`          // live: writes that failed without a clear refusal (they may have been applied)
	Reads         int            `json:"reads,omitempty"`              // live: reads the pollers made
	Regressions   int            `json:"regressions,omitempty"`        // live: polled reads that went back in time
	Failed        map[string]int `json:"failed,omitempty"`             // live: operations not acknowledged, by the service's error code ("timeout" and the like: none)
	Probes        map[string]int `json:"probe_rounds,omitempty"`       // live: rounds of the two probes
	ConflictsExp  *int           `json:"conflicts_expected,omitempty"` // simulated runs only: live runs cannot tell
	ConflictsSeen int            `json:"conflicts_found"`
	Converged     bool           `json:"converged"`
	ConvergeTime  time.Duration  `json:"converge_time_ns"`
	Problems      []string       `json:"problems,omitempty"`
	Dir           string         `json:"dir,omitempty"`
}

// OK reports whether every guarantee held.
func (r *Report) OK() bool {
	return r.Converged && len(r.Problems) == 0 && r.Lost == 0 && r.Stale == 0 && r.Regressions == 0
}

// Run runs one campaign. On failure the data dirs and the history are kept
// in cfg.Dir and the report names them; on success they are removed.
func Run(cfg Config) (*Report, error) {
	if cfg.Clusters == 0 {
		cfg.Clusters = 3
	}
	if cfg.Duration == 0 {
		cfg.Duration = 20 * time.Second
	}
	if cfg.Rate == 0 {
		cfg.Rate = 20
	}
	if cfg.Keys == 0 {
		cfg.Keys = 12
	}
	if cfg.ConvergeBound == 0 {
		cfg.ConvergeBound = 30 * time.Second
	}
	if len(cfg.Faults) == 0 {
		cfg.Faults = FaultKinds
	}
	for _, f := range cfg.Faults {
		if !slices.Contains(FaultKinds, f) {
			return nil, fmt.Errorf("chaos: unknown fault %q: use %s", f, strings.Join(FaultKinds, ", "))
		}
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "pbxtopo-chaos-")
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	sim, err := NewSim(SimConfig{Seed: cfg.Seed, Clusters: cfg.Clusters, Mode: cfg.Mode, Dir: cfg.Dir, Watermark: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	rep := &Report{Kind: "simulated", Seed: cfg.Seed, Mode: string(sim.cfg.Mode), Clusters: cfg.Clusters, Deterministic: true}
	h := &History{}
	var log []string
	note := func(f string, args ...any) {
		log = append(log, fmt.Sprintf("%s %s", sim.Now().Sub(epoch), fmt.Sprintf(f, args...)))
	}
	// The workload and the fault schedule run together for Duration.
	interval := time.Second / time.Duration(cfg.Rate)
	writes := int(cfg.Duration / interval)
	for i := 0; i < writes; i++ {
		sim.at(time.Duration(i)*interval, func() {
			if w := sim.RandomWrite(h, cfg.Keys); w != nil {
				note("write w%d at %s %s/%s delete=%v resolve=%v acked=%v %s", w.ID, w.Node, w.Table, w.Key, w.Delete, w.Resolve, w.Acked, w.Err)
			}
		})
	}
	for t := time.Second; t < cfg.Duration; {
		hold := time.Duration(500+sim.rnd.Intn(3000)) * time.Millisecond
		kind := cfg.Faults[sim.rnd.Intn(len(cfg.Faults))]
		inject, undo := sim.fault(kind)
		sim.at(t, func() { note("fault %s", inject()) })
		sim.at(t+hold, func() { note("recover %s", undo()) })
		t += hold + time.Duration(200+sim.rnd.Intn(1500))*time.Millisecond
	}
	sim.RunFor(cfg.Duration)
	// Final heal, then the quiet period: the replicas must converge.
	if err := sim.RecoverAll(); err != nil {
		sim.Close()
		return nil, err
	}
	note("heal all")
	healed := sim.Now()
	for sim.Now().Sub(healed) < cfg.ConvergeBound {
		sim.RunFor(100 * time.Millisecond)
		if ok, _ := sim.Converged(); ok {
			rep.Converged = true
			break
		}
	}
	rep.ConvergeTime = sim.Now().Sub(healed)
	if !rep.Converged {
		_, why := sim.Converged()
		rep.Problems = append(rep.Problems, fmt.Sprintf("not converged %s after the heal: %s", cfg.ConvergeBound, why))
	}
	res := sim.Check(h)
	rep.Operations = len(h.Writes) + h.Refused
	rep.Acked, rep.Refused = res.Acked, h.Refused
	rep.Lost, rep.Stale = res.Lost, res.Stale
	rep.ConflictsExp, rep.ConflictsSeen = &res.ConflictsExpected, res.ConflictsFound
	rep.Problems = append(rep.Problems, res.Problems...)
	rep.Faults = sim.stats.Faults
	rep.Messages, rep.Dropped, rep.Duplicated, rep.Snapshots = sim.stats.Messages, sim.stats.Dropped, sim.stats.Duplicated, sim.stats.Snapshots
	sim.Close()
	if rep.OK() {
		os.RemoveAll(cfg.Dir)
	} else {
		rep.Dir = cfg.Dir
		os.WriteFile(filepath.Join(cfg.Dir, "history.log"), []byte(strings.Join(log, "\n")+"\n"), 0o644)
		if b, err := json.MarshalIndent(rep, "", "  "); err == nil {
			os.WriteFile(filepath.Join(cfg.Dir, "report.json"), b, 0o644)
		}
	}
	return rep, nil
}

// fault returns how to inject a fault of a kind and how to undo it; the
// choices inside (which replica, how much) are drawn when it is injected.
func (s *Sim) fault(kind string) (inject, undo func() string) {
	n := len(s.nodes)
	pick := func() int { return s.rnd.Intn(n) }
	switch kind {
	case "partition":
		return func() string {
			switch s.rnd.Intn(3) {
			case 0:
				i := pick()
				s.Isolate(i)
				return fmt.Sprintf("isolate %s", s.nodes[i].name)
			case 1:
				perm := s.rnd.Perm(n)
				s.Partition(perm[:n/2], perm[n/2:])
				return fmt.Sprintf("halves %v | %v", names(s, perm[:n/2]), names(s, perm[n/2:]))
			default:
				// A majority ring: each replica sees only its neighbours.
				s.Heal()
				for a := 0; a < n; a++ {
					for b := 0; b < n; b++ {
						if d := (a - b + n) % n; a != b && d != 1 && d != n-1 {
							s.net.blocked[[2]int{a, b}] = true
						}
					}
				}
				s.stats.Faults["partition"]++
				s.notifyMembership()
				return "majorities ring"
			}
		}, func() string { s.Heal(); return "heal" }
	case "oneway":
		return func() string {
			a, b := pick(), pick()
			if a == b {
				b = (a + 1) % n
			}
			s.OneWay(a, b)
			return fmt.Sprintf("one-way %s -x-> %s", s.nodes[a].name, s.nodes[b].name)
		}, func() string { s.Heal(); return "heal" }
	case "bridge":
		return func() string {
			i := pick()
			s.Bridge(i)
			return "bridge through " + s.nodes[i].name
		}, func() string { s.Heal(); return "heal" }
	case "loss":
		return func() string { s.Degrade(0.3, 0, 0, 0); return "30% loss" }, func() string { s.Degrade(0, 0, 0, 0); return "no loss" }
	case "duplicate":
		return func() string { s.Degrade(0, 0.3, 0, 0); return "30% duplicates" }, func() string { s.Degrade(0, 0, 0, 0); return "no duplicates" }
	case "reorder":
		return func() string { s.Degrade(0, 0, 0, 80*time.Millisecond); return "reorder (80ms jitter)" },
			func() string { s.Degrade(0, 0, 0, 0); return "in order" }
	case "delay":
		return func() string { s.Degrade(0, 0, 300*time.Millisecond, 50*time.Millisecond); return "300ms delay" },
			func() string { s.Degrade(0, 0, 0, 0); return "no delay" }
	case "crash":
		var i int
		return func() string {
				i = pick()
				s.Crash(i)
				return "crash " + s.nodes[i].name
			}, func() string {
				if err := s.Restart(i); err != nil {
					return err.Error()
				}
				return "restart " + s.nodes[i].name
			}
	case "pause":
		var i int
		return func() string { i = pick(); s.Pause(i); return "pause " + s.nodes[i].name },
			func() string { s.Resume(i); return "resume " + s.nodes[i].name }
	default: // skew
		var i int
		return func() string {
				i = pick()
				d := time.Duration(s.rnd.Intn(40)-20) * time.Second
				s.Skew(i, d)
				return fmt.Sprintf("clock of %s %+v", s.nodes[i].name, d)
			}, func() string {
				d := time.Duration(s.rnd.Intn(2000)-1000) * time.Millisecond
				s.Skew(i, d) // a jump back, near but not to zero
				return fmt.Sprintf("clock of %s jumps to %+v", s.nodes[i].name, d)
			}
	}
}

func names(s *Sim, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = s.nodes[j].name
	}
	sort.Strings(out)
	return out
}

// PrintReports writes the campaign reports as a table.
func PrintReports(w io.Writer, reps []*Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSEED\tMODE\tCLUSTERS\tOPS\tACKED\tFAULTS\tMSGS\tLOST\tSTALE\tWENT BACK\tCONFLICTS EXP/FOUND\tCONVERGED IN\tRESULT")
	for _, r := range reps {
		faults := 0
		for _, n := range r.Faults {
			faults += n
		}
		result := "ok"
		if !r.OK() {
			result = "FAILED: " + r.Dir
		}
		clusters, conflicts := fmt.Sprint(r.Clusters), fmt.Sprintf("-/%d", r.ConflictsSeen)
		if r.ConflictsExp != nil {
			conflicts = fmt.Sprintf("%d/%d", *r.ConflictsExp, r.ConflictsSeen)
		}
		if r.Kind == "live" {
			clusters = fmt.Sprintf("%dx%d", r.Clusters, r.Nodes)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Kind, r.Seed, r.Mode, clusters, r.Operations, r.Acked,
			faults, r.Messages, r.Lost, r.Stale, r.Regressions, conflicts, r.ConvergeTime.Round(time.Millisecond), result)
	}
	tw.Flush()
	for _, r := range reps {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "seed %d (%s): %s\n", r.Seed, r.Mode, p)
		}
	}
}
