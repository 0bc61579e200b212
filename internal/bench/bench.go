// Package bench holds the performance suites of `pbxtopo bench`: each
// measures what an issue names, with the anchor it names measured in the
// same run, and reports figures, never pass/fail against a goal. A
// measurement that cannot be made is a failure, never a figure: its row
// says why and the run fails.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one figure, or, with Error set, a measurement that failed:
// such a row carries no figure, and the run fails.
type Result struct {
	Suite       string  `json:"suite"`
	Name        string  `json:"name"`
	Value       float64 `json:"value"`
	Unit        string  `json:"unit"`
	Anchor      string  `json:"anchor,omitempty"`
	AnchorValue float64 `json:"anchor_value,omitempty"`
	Ratio       float64 `json:"ratio,omitempty"`
	// AnchorSettings says exactly how the anchor ran (flags, sizes,
	// durability), so two runs can be compared.
	AnchorSettings string `json:"anchor_settings,omitempty"`
	Goal           string `json:"goal,omitempty"`
	Note           string `json:"note,omitempty"`
	// Clients is how many clients or writers ran at once, when several
	// did; a row with more than the machine's CPUs says so in its note.
	Clients int `json:"clients,omitempty"`
	// Error is why the measurement failed.
	Error string `json:"error,omitempty"`
}

// failed returns the row of a measurement that failed.
func failed(name string, err error) Result { return Result{Name: name, Error: err.Error()} }

// Env is what a suite may use.
type Env struct {
	Dir   string       // a scratch directory, removed afterwards
	Self  string       // the pbxtopo binary, for suites that run it as a child
	Quick bool         // smaller sizes and shorter runs (tests, CI)
	Log   *slog.Logger // progress lines
	// ScaleExtensions overrides the scale suite's million (0: the default).
	ScaleExtensions int
	// params collects the suite's parameters for the report.
	params map[string]any
}

// Param records one of the suite's parameters (sizes, durations, clients)
// for the report.
func (e Env) Param(name string, value any) {
	if e.params != nil {
		if d, ok := value.(time.Duration); ok {
			value = d.String()
		}
		e.params[name] = value
	}
}

// Suite runs one group of measurements.
type Suite func(ctx context.Context, env Env) ([]Result, error)

// Suites are the suites by name, in the order `pbxtopo bench` runs them.
var Suites = map[string]Suite{
	"store":   Store,
	"repl":    Repl,
	"raft":    Raft,
	"roaming": Roaming,
	"dns":     DNS,
	"api":     API,
	"ui":      UI,
	"dundi":   Dundi,
	"ami":     AMI,
	"mysql":   MySQL,
	"ops":     Ops,
	"scale":   Scale,
}

// Order is the order suites run in when none are named.
var Order = []string{"store", "repl", "raft", "roaming", "dns", "api", "ui", "dundi", "ami", "mysql", "ops", "scale"}

// Report is a whole run: the machine, each suite's parameters and load,
// and the figures.
type Report struct {
	Machine Machine    `json:"machine"`
	Suites  []SuiteRun `json:"suites"`
	Results []Result   `json:"results"`
}

// SuiteRun is how one suite ran.
type SuiteRun struct {
	Name    string         `json:"name"`
	Quick   bool           `json:"quick,omitempty"`
	Params  map[string]any `json:"params"`
	Seconds float64        `json:"seconds"`
	// LoadBefore and LoadAfter are the machine's load averages around the
	// suite: other work on the machine skews every figure.
	LoadBefore Load `json:"load_before"`
	LoadAfter  Load `json:"load_after"`
	// CPUBusy and CPUStolen are the shares of the machine's CPU time
	// during the suite that were busy here and that the hypervisor gave
	// to other guests (steal): a figure taken while a third of the CPU
	// was stolen measures the host as much as the code.
	CPUBusy   float64 `json:"cpu_busy_share"`
	CPUStolen float64 `json:"cpu_stolen_share"`
	Error     string  `json:"error,omitempty"`
}

// Run runs the named suites (all when names is empty) and returns their
// figures; the error names every suite that failed.
func Run(ctx context.Context, names []string, env Env) ([]Result, error) {
	r, err := RunReport(ctx, names, env)
	return r.Results, err
}

// RunReport runs the named suites (all when names is empty). A suite that
// fails does not stop the others; its failure is a row (Error set) and the
// returned error names it.
func RunReport(ctx context.Context, names []string, env Env) (Report, error) {
	if len(names) == 0 {
		names = Order
	}
	for _, n := range names {
		if _, ok := Suites[n]; !ok {
			known := make([]string, 0, len(Suites))
			for k := range Suites {
				known = append(known, k)
			}
			sort.Strings(known)
			return Report{}, fmt.Errorf("unknown bench suite %q: use %s", n, strings.Join(known, ", "))
		}
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	rep := Report{Machine: ThisMachine(env.Dir)}
	var errs []error
	for _, n := range names {
		run, rs, err := runSuite(ctx, n, env)
		rep.Suites = append(rep.Suites, run)
		rep.Results = append(rep.Results, rs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

func runSuite(ctx context.Context, name string, env Env) (SuiteRun, []Result, error) {
	run := SuiteRun{Name: name, Quick: env.Quick, Params: map[string]any{}, LoadBefore: ReadLoad()}
	dir, err := os.MkdirTemp(env.Dir, name+"-")
	if err != nil {
		return run, nil, err
	}
	defer os.RemoveAll(dir)
	e := env
	e.Dir, e.params = dir, run.Params
	start, cpu := time.Now(), ReadCPUTimes()
	rs, err := Suites[name](ctx, e)
	run.Seconds, run.LoadAfter = time.Since(start).Seconds(), ReadLoad()
	run.CPUBusy, run.CPUStolen = cpu.Shares(ReadCPUTimes())
	cpus := runtime.NumCPU()
	failures := 0
	for i := range rs {
		r := &rs[i]
		r.Suite = name
		if r.Error != "" {
			failures++
			r.Value, r.Ratio = 0, 0
			continue
		}
		if r.AnchorValue != 0 && r.Ratio == 0 {
			r.Ratio = r.Value / r.AnchorValue
		}
		if r.Clients > cpus {
			r.Note = join(r.Note, fmt.Sprintf("%d clients on %d CPUs", r.Clients, cpus))
		}
	}
	if err == nil && failures > 0 {
		err = fmt.Errorf("%d measurement(s) failed", failures)
	}
	if err != nil {
		err = fmt.Errorf("bench %s: %w", name, err)
		run.Error = err.Error()
		if failures == 0 {
			rs = append(rs, Result{Suite: name, Name: "suite stopped", Error: err.Error()})
		}
	}
	return run, rs, err
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// PrintTable writes results as a table.
func PrintTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUITE\tMEASURE\tVALUE\tUNIT\tANCHOR\tANCHOR VALUE\tRATIO\tGOAL")
	for _, r := range rs {
		anchor, av, ratio := "-", "-", "-"
		if r.Anchor != "" {
			anchor, av, ratio = r.Anchor, num(r.AnchorValue), fmt.Sprintf("%.2f", r.Ratio)
		}
		goal := r.Goal
		if goal == "" {
			goal = "-"
		}
		value := num(r.Value)
		if r.Unit == "" && r.Value == 0 {
			value = "(note)" // an observation, not a figure
		}
		if r.Error != "" {
			value, anchor, av, ratio = "FAILED", "-", "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Suite, r.Name, value, r.Unit, anchor, av, ratio, goal)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	first := true
	for _, r := range rs {
		note := r.Note
		if r.Error != "" {
			note = "FAILED: " + r.Error
		}
		if note == "" {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nnotes:")
			first = false
		}
		fmt.Fprintf(w, "  %s / %s: %s\n", r.Suite, r.Name, note)
	}
	first = true
	seen := map[string]bool{}
	for _, r := range rs {
		if r.AnchorSettings == "" || seen[r.AnchorSettings] {
			continue
		}
		seen[r.AnchorSettings] = true
		if first {
			fmt.Fprintln(w, "\nanchors:")
			first = false
		}
		name, _, _ := strings.Cut(r.Anchor, ":")
		fmt.Fprintf(w, "  %s / %s: %s\n", r.Suite, name, r.AnchorSettings)
	}
	return nil
}

// PrintMachine writes the machine and each suite's load, for the table
// output.
func PrintMachine(w io.Writer, rep Report) {
	m := rep.Machine
	fmt.Fprintf(w, "\nmachine: %d CPUs (%s), GOMAXPROCS %d, %d MB, Linux %s, %s, scratch on %s\n",
		m.CPUs, m.CPUModel, m.GOMAXPROCS, m.MemoryMB, m.Kernel, m.Go, m.Filesystem)
	for _, s := range rep.Suites {
		fmt.Fprintf(w, "  %s: %.0f s, load %s before, %s after; CPU %.0f%% busy, %.0f%% stolen by the hypervisor\n",
			s.Name, s.Seconds, s.LoadBefore, s.LoadAfter, 100*s.CPUBusy, 100*s.CPUStolen)
	}
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.4f", v)
}

// rate runs fn from n goroutines for d and returns completed calls per second.
func rate(ctx context.Context, n int, d time.Duration, fn func(worker, i int) error) (float64, []time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type res struct {
		lat []time.Duration
		err error
	}
	out := make(chan res, n)
	start := time.Now()
	for w := 0; w < n; w++ {
		go func(w int) {
			var r res
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				if err := fn(w, i); err != nil {
					r.err = err
					break
				}
				r.lat = append(r.lat, time.Since(t0))
			}
			out <- r
		}(w)
	}
	var all []time.Duration
	var firstErr error
	for w := 0; w < n; w++ {
		r := <-out
		all = append(all, r.lat...)
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	return float64(len(all)) / time.Since(start).Seconds(), all, firstErr
}

// Percentile returns the p-th percentile (0-100) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
