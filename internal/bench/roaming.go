package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// Roaming measures the roaming report, the audit and one cluster's DUNDi
// config over a synthetic enterprise of 100,000 extensions on 10 clusters
// (30% of the numbers roaming), each from a fresh snapshot of the store:
// time (median of 9) and the bytes each one allocates. With the pbxtopo
// binary it also measures each one's peak RSS in a child process against
// a child that only opens the store and reads one record.
func Roaming(ctx context.Context, env Env) ([]Result, error) {
	nExt := 100_000
	if env.Quick {
		nExt = 5_000
	}
	env.Param("extensions", nExt)
	env.Param("clusters", 10)
	env.Param("roaming_share", 0.3)
	env.Param("repeats", 9)
	dataDir := filepath.Join(env.Dir, "roaming")
	if err := seedStore(ctx, env, dataDir, Enterprise{Clusters: 10, Extensions: nExt, Roaming: 0.3, Seed: 1}); err != nil {
		return nil, err
	}
	// The children first, while this process is small: a child started
	// with vfork inherits the parent's peak RSS as its own starting peak.
	rss, err := childRSS(ctx, env, dataDir)
	if err != nil {
		return nil, err
	}
	cfg := store.DefaultConfig(filepath.Join(dataDir, "store.db"))
	cfg.ReadOnly = true
	st, err := store.Open(cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var rows, findings, numbers int
	measures := []struct {
		name string
		goal string
		fn   func(e *roaming.Enterprise) error
	}{
		{fmt.Sprintf("roaming report, %d extensions", nExt), "< 300 ms", func(e *roaming.Enterprise) error {
			r, err := roaming.NewReport(e, roaming.Filter{})
			if err == nil {
				rows = len(r.Rows)
			}
			return err
		}},
		{fmt.Sprintf("audit, %d extensions", nExt), "< 300 ms", func(e *roaming.Enterprise) error {
			findings = len(roaming.Audit(e, roaming.DefaultConfig(), nil, roaming.Info).Findings)
			return nil
		}},
		{"DUNDi config of one cluster", "< 200 ms", func(e *roaming.Enterprise) error {
			b, err := roaming.NewBundle(e, ClusterName(0), roaming.DefaultDUNDiConfig())
			if err == nil {
				numbers = b.Numbers
			}
			return err
		}},
	}
	var out []Result
	for _, m := range measures {
		run := func() error {
			return st.View(func(sn *store.Snapshot) error {
				e, err := roaming.Load(sn, roaming.DefaultConfig().Policy)
				if err != nil {
					return err
				}
				return m.fn(e)
			})
		}
		heap, err := heapGrowth(run)
		if err != nil {
			return out, err
		}
		var times []time.Duration
		for i := 0; i < 9; i++ {
			t0 := time.Now()
			if err := run(); err != nil {
				return out, err
			}
			times = append(times, time.Since(t0))
		}
		out = append(out, Result{Name: m.name + " (load + build, median of 9)", Value: ms(Percentile(times, 50)), Unit: "ms", Goal: m.goal},
			Result{Name: m.name + ": bytes allocated (an upper bound of the heap it adds)", Value: heap, Unit: "MB"})
	}
	out[0].Note = fmt.Sprintf("%d rows", rows)
	out[2].Note = fmt.Sprintf("%d findings", findings)
	out[4].Note = fmt.Sprintf("%d numbers answered", numbers)
	return append(out, rss...), nil
}

// seedStore writes a synthetic enterprise as CSV and imports it: with the
// pbxtopo binary in child processes (so this process stays small), or
// else in process.
func seedStore(ctx context.Context, env Env, dataDir string, e Enterprise) error {
	files, err := e.Write(env.Dir)
	if err != nil {
		return err
	}
	debug.FreeOSMemory()
	if env.Self != "" {
		for _, f := range files {
			cmd := exec.CommandContext(ctx, env.Self, "import", "--data-dir", dataDir, "--replica", ClusterName(0), f)
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("import %s: %v\n%.500s", f, err, b)
			}
		}
		return nil
	}
	cfg := store.DefaultConfig(filepath.Join(dataDir, "store.db"))
	cfg.Replica = ClusterName(0)
	st, err := store.Open(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := service.NewService(st)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		table := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		_, err = svc.Import(ctx, service.ImportRequest{Table: table, Source: filepath.Base(f)}, fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("import %s: %w", f, err)
		}
	}
	return nil
}

// heapGrowth runs fn once and returns the bytes it allocated, in MB: an
// upper bound of the heap it adds (the collector frees much of it during
// the run).
func heapGrowth(fn func() error) (float64, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := fn()
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20), err
}

// childRSS runs `pbxtopo roaming report`, `pbxtopo audit` and `pbxtopo
// dundi config` as child processes, and the anchor `pbxtopo export`
// --table sites (open the same store, read a few records): the difference
// of their peak RSS is what each adds to a process (runPeakRSS).
func childRSS(ctx context.Context, env Env, dataDir string) ([]Result, error) {
	if env.Self == "" {
		return nil, nil
	}
	peak := func(args ...string) (float64, error) {
		cmd := exec.CommandContext(ctx, env.Self, append(args, "--data-dir", dataDir, "-o", "json")...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = io.Discard, &out
		hwm, err := runPeakRSS(cmd)
		if err != nil {
			return 0, fmt.Errorf("pbxtopo %v: %v\n%.500s", args, err, out.String())
		}
		return hwm, nil
	}
	base, err := peak("export", "--table", "sites")
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, c := range [][]string{{"roaming", "report"}, {"audit"}, {"dundi", "config", "--cluster", ClusterName(0)}} {
		rss, err := peak(c...)
		if err != nil {
			return out, err
		}
		out = append(out, Result{Name: "pbxtopo " + strings.Join(c, " ") + " peak RSS (child process)", Value: rss, Unit: "MB",
			Anchor: "pbxtopo export --table sites (open the store, read 5 records)", AnchorValue: base,
			Goal: "< 200 MB over the anchor", Note: fmt.Sprintf("%.0f MB extra", rss-base)})
	}
	return out, nil
}

// runPeakRSS runs cmd and returns its peak resident set in MB: its VmHWM,
// sampled from /proc every 2 ms (the rusage of a child started with vfork
// counts the parent's peak too), or the rusage where /proc is missing.
func runPeakRSS(cmd *exec.Cmd) (float64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	hwm := 0.0
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if v := vmHWM(status); v > hwm {
			hwm = v
		}
		select {
		case err := <-done:
			if err != nil {
				return 0, err
			}
			if hwm == 0 {
				hwm = float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
			}
			return hwm, nil
		case <-tick.C:
		}
	}
}

// vmHWM reads a process's peak resident set (VmHWM) in MB, or 0.
func vmHWM(statusFile string) float64 {
	b, err := os.ReadFile(statusFile)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
