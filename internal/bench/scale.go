package bench

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
)

// Scale measures one enterprise of a million extensions on real agent
// processes (two clusters in a mesh, one agent each, on loopback): the
// import of the million rows from CSV into the first agent's store (the
// pbxtopo import command, before the agent's first start), the catch-up
// of the second cluster, which missed all of them, to equal digests, each
// agent's resident memory, the p99 of listing pages and of searches
// through the HTTP API, and 5,000 concurrent clients against one agent.
func Scale(ctx context.Context, env Env) ([]Result, error) {
	p := scaleParams{extensions: 1_000_000, clients: 5_000, load: 20 * time.Second, latency: 10 * time.Second, latencyClients: 8}
	if env.Quick {
		p = scaleParams{extensions: 20_000, clients: 200, load: 2 * time.Second, latency: time.Second, latencyClients: 4}
	}
	if env.ScaleExtensions > 0 {
		p.extensions = env.ScaleExtensions
	}
	env.Param("extensions", p.extensions)
	env.Param("clusters_in_the_data", 10)
	env.Param("agents", 2)
	env.Param("concurrent_clients", p.clients)
	env.Param("client_think_time", "0.5-1.5 s, uniform")
	env.Param("load_duration", p.load)
	env.Param("latency_clients", p.latencyClients)
	env.Param("latency_duration", p.latency)
	if env.Self == "" {
		return nil, fmt.Errorf("the scale suite runs agent processes: it needs the pbxtopo binary (run pbxtopo bench scale)")
	}
	env.Log.Info("bench scale: writing the CSV files", "extensions", p.extensions)
	files, err := Enterprise{Clusters: 10, Extensions: p.extensions, Roaming: 0.3, Seed: 7}.Write(env.Dir)
	if err != nil {
		return nil, err
	}
	e, err := prepareScaleDemo(env)
	if err != nil {
		return nil, err
	}
	defer e.Stop()
	first, second := e.Clusters[0].Nodes[0], e.Clusters[1].Nodes[0]

	var out []Result
	env.Log.Info("bench scale: importing", "extensions", p.extensions)
	imp, err := scaleImport(ctx, env, first.DataDir, e.Clusters[0].Cluster, files)
	out = append(out, imp...)
	if err != nil {
		return out, err
	}

	env.Log.Info("bench scale: starting the first agent")
	if err := first.Start(); err != nil {
		return out, err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := waitListing(sctx, e, first, p.extensions); err != nil {
		return out, err
	}
	env.Log.Info("bench scale: the second agent catches up")
	start := time.Now()
	if err := second.Start(); err != nil {
		return out, err
	}
	catchUp := fmt.Sprintf("catch-up of a replica that missed all %d extensions, start to equal digests", p.extensions)
	if err := waitSame(sctx, e, second, e.Clusters[0].Cluster, 10*time.Minute); err != nil {
		out = append(out, failed(catchUp, err))
		return out, err
	}
	out = append(out, Result{Name: catchUp, Value: time.Since(start).Seconds(), Unit: "s", Goal: "< 30 s",
		Note: "the second agent starts with an empty store; time until repl verify shows the same digests as the first"})

	lat, err := scaleLatency(ctx, e, first, p)
	out = append(out, lat...)
	if err != nil {
		return out, err
	}
	load, err := scaleLoad(ctx, e, first, p)
	out = append(out, load...)
	if err != nil {
		return out, err
	}
	for _, n := range []*demo.Node{first, second} {
		m, err := readMemory(n.PID)
		if err != nil {
			return out, err
		}
		out = append(out, Result{Name: fmt.Sprintf("agent %s resident memory (VmRSS) after the runs", n.Name), Value: m.rss, Unit: "MB",
			Goal: "< 1024 MB", Note: fmt.Sprintf("peak (VmHWM) %.0f MB; now %.0f MB anonymous (the Go heap, with freed memory the runtime has not yet returned), %.0f MB of the mapped store file",
				m.hwm, m.anon, m.file)})
	}
	return out, nil
}

type scaleParams struct {
	extensions     int
	clients        int
	load           time.Duration
	latency        time.Duration
	latencyClients int
}

// prepareScaleDemo writes the configuration of two agents, c00 and c01,
// in a mesh, on free ports; nothing is seeded or started.
func prepareScaleDemo(env Env) (*demo.Enterprise, error) {
	for try := 0; ; try++ {
		e, err := demo.Prepare(demo.Config{Binary: env.Self, Dir: filepath.Join(env.Dir, fmt.Sprintf("agents-%d", try)),
			Clusters: []string{ClusterName(0), ClusterName(1)}, Nodes: 1, Mode: "mesh", PortBase: 20000 + rand.Intn(30000)/10*10})
		if err != nil {
			return nil, err
		}
		if err = e.CheckPorts(); err == nil {
			return e, nil
		} else if try == 5 {
			return nil, err
		}
	}
}

// scaleImport imports the CSV files into dataDir with the pbxtopo binary,
// as an admin seeds a store before the agent's first start, and times the
// extensions file.
func scaleImport(ctx context.Context, env Env, dataDir, cluster string, files []string) ([]Result, error) {
	var out []Result
	for _, f := range files {
		cmd := exec.CommandContext(ctx, env.Self, "import", "--data-dir", dataDir, "--replica", cluster, f)
		var outb strings.Builder
		cmd.Stdout, cmd.Stderr = &outb, &outb
		start := time.Now()
		rss, err := runPeakRSS(cmd)
		if err != nil {
			return out, fmt.Errorf("import %s: %v\n%.500s", f, err, outb.String())
		}
		if filepath.Base(f) != "extensions.csv" {
			continue
		}
		took := time.Since(start)
		st, _ := os.Stat(f)
		db, _ := os.Stat(filepath.Join(dataDir, "store.db"))
		var csvMB, dbMB float64
		if st != nil && db != nil {
			csvMB, dbMB = float64(st.Size())/(1<<20), float64(db.Size())/(1<<20)
		}
		out = append(out,
			Result{Name: "import of the extensions from CSV (pbxtopo import, one transaction)", Value: took.Seconds(), Unit: "s", Goal: "< 60 s",
				Note: fmt.Sprintf("%.0f MB of CSV; store file afterwards %.0f MB", csvMB, dbMB)},
			Result{Name: "import peak RSS (VmHWM of the import process)", Value: rss, Unit: "MB"})
	}
	return out, nil
}

// waitListing waits until the agent answers a listing with n extensions.
func waitListing(ctx context.Context, e *demo.Enterprise, n *demo.Node, want int) error {
	c := e.Client(n, "read")
	var last string
	for ctx.Err() == nil {
		p, err := c.List(ctx, "extensions", agentQuery(1))
		if err == nil && p.Total >= want {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = strconv.Itoa(p.Total) + " extensions"
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not list %d extensions (last: %s; see %s)", n.Name, want, last, n.Log)
}

// waitSame waits until n's repl verify shows the cluster peer the same
// (the clusters of the data that run no agent stay unreachable).
func waitSame(ctx context.Context, e *demo.Enterprise, n *demo.Node, peer string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c := e.Client(n, "read")
	var last string
	for ctx.Err() == nil {
		v, err := c.ReplVerify(ctx)
		switch {
		case err != nil:
			last = err.Error()
		case v.SameAt([]string{peer}):
			return nil
		default:
			last = fmt.Sprintf("%+v", v.Rows)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not reach the same digests within %v (last: %s; see %s)", n.Name, limit, last, n.Log)
}

// memory is a process's resident memory, in MB.
type memory struct{ rss, hwm, anon, file float64 }

// readMemory reads a process's memory from /proc/PID/status.
func readMemory(pid int) (memory, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.rss = kb / 1024
		case "VmHWM":
			m.hwm = kb / 1024
		case "RssAnon":
			m.anon = kb / 1024
		case "RssFile":
			m.file = kb / 1024
		}
	}
	if m.rss == 0 {
		return m, fmt.Errorf("%s: no VmRSS", path)
	}
	return m, nil
}
