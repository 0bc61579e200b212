// Package bench holds the performance suites of `pbxtopo bench`: each
// measures what an issue names, with the anchor it names measured in the
// same run, and reports figures, never pass/fail.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one figure.
type Result struct {
	Suite       string  `json:"suite"`
	Name        string  `json:"name"`
	Value       float64 `json:"value"`
	Unit        string  `json:"unit"`
	Anchor      string  `json:"anchor,omitempty"`
	AnchorValue float64 `json:"anchor_value,omitempty"`
	Ratio       float64 `json:"ratio,omitempty"`
	Goal        string  `json:"goal,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// Env is what a suite may use.
type Env struct {
	Dir   string       // a scratch directory, removed afterwards
	Self  string       // the pbxtopo binary, for suites that run it as a child
	Quick bool         // smaller sizes and shorter runs (tests, CI)
	Log   *slog.Logger // progress lines
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
}

// Order is the order suites run in when none are named.
var Order = []string{"store", "repl", "raft", "roaming", "dns", "api", "ui", "dundi", "ami", "mysql", "ops"}

// Run runs the named suites (all when names is empty).
func Run(ctx context.Context, names []string, env Env) ([]Result, error) {
	if len(names) == 0 {
		names = Order
	}
	var out []Result
	for _, n := range names {
		s, ok := Suites[n]
		if !ok {
			known := make([]string, 0, len(Suites))
			for k := range Suites {
				known = append(known, k)
			}
			sort.Strings(known)
			return out, fmt.Errorf("unknown bench suite %q: use %s", n, strings.Join(known, ", "))
		}
		dir, err := os.MkdirTemp(env.Dir, n+"-")
		if err != nil {
			return out, err
		}
		e := env
		e.Dir = dir
		rs, err := s(ctx, e)
		os.RemoveAll(dir)
		for i := range rs {
			rs[i].Suite = n
			if rs[i].AnchorValue != 0 && rs[i].Ratio == 0 {
				rs[i].Ratio = rs[i].Value / rs[i].AnchorValue
			}
		}
		out = append(out, rs...)
		if err != nil {
			return out, fmt.Errorf("bench %s: %w", n, err)
		}
	}
	return out, nil
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Suite, r.Name, value, r.Unit, anchor, av, ratio, goal)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	first := true
	for _, r := range rs {
		if r.Note == "" {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nnotes:")
			first = false
		}
		fmt.Fprintf(w, "  %s / %s: %s\n", r.Suite, r.Name, r.Note)
	}
	return nil
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
