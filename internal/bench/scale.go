package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
	servedBefore, err := treeCPU(first.PID)
	if err != nil {
		return out, err
	}
	if err := second.Start(); err != nil {
		return out, err
	}
	catchUp := fmt.Sprintf("catch-up of a replica that missed all %d extensions, start to equal digests", p.extensions)
	if err := waitSame(sctx, e, second, e.Clusters[0].Cluster, 10*time.Minute); err != nil {
		out = append(out, failed(catchUp, err))
		return out, err
	}
	took := time.Since(start)
	served, err1 := treeCPU(first.PID)
	caught, err2 := treeCPU(second.PID)
	if err := errors.Join(err1, err2); err != nil {
		return out, err
	}
	out = append(out, Result{Name: catchUp, Value: took.Seconds(), Unit: "s", Goal: "< 30 s",
		Note: fmt.Sprintf("the second agent starts with an empty store; time until repl verify shows the same digests as the first; CPU used meanwhile: %.1f s by the agent catching up, %.1f s by the one serving it",
			caught.Seconds(), (served - servedBefore).Seconds())})

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
			Goal: "< 1024 MB", Note: fmt.Sprintf("peak (VmHWM) %.0f MB; now %.0f MB anonymous (the Go heap, with freed memory the runtime has not yet returned), %.0f MB of mapped files (%s; the store's pages leave the resident set every 30 s, store/DESIGN.md)",
				m.hwm, m.anon, m.file, m.filesNote())})
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

// memory is a process's resident memory, in MB; byFile splits the mapped
// files' part by file name (the store, the Raft log, the binary).
type memory struct {
	rss, hwm, anon, file float64
	byFile               map[string]float64
}

// mappedFiles sums the resident size of each mapped file of a process,
// from /proc/PID/smaps: a mapping's header line ends with its path, and
// its Rss line follows.
func mappedFiles(pid int) (map[string]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	file := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			file = ""
			if len(f) >= 6 && strings.HasPrefix(f[5], "/") {
				file = filepath.Base(f[5])
			}
		case len(f) == 3 && f[0] == "Rss:" && file != "":
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil && kb > 0 {
				out[file] += kb / 1024
			}
		}
	}
	return out, nil
}

// note says what the files' part is made of, largest first.
func (m memory) filesNote() string {
	names := make([]string, 0, len(m.byFile))
	for n := range m.byFile {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return m.byFile[names[i]] > m.byFile[names[j]] })
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f MB", n, m.byFile[n]))
	}
	return strings.Join(parts, ", ")
}

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
	m.byFile, err = mappedFiles(pid)
	return m, err
}
