// Package netns runs chaos against real agent processes: one network
// namespace per cluster joined by a bridge in a hub namespace, partitions
// with iptables, delay and loss with tc netem (where the kernel has it),
// kill -9 and SIGSTOP/SIGCONT. It needs root, ip and iptables, and uses only
// addresses inside its own namespaces.
package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// Config configures a run.
type Config struct {
	Binary   string
	Dir      string
	Clusters int
	Mode     string
	Duration time.Duration
	Seed     int64
	Out      io.Writer
	ID       int // namespace and subnet id (1-250)
}

// Available says why this machine cannot run the harness, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces and iptables)")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s (Debian packages iproute2 and iptables)", tool)
		}
	}
	return nil
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c Config) hub() string        { return fmt.Sprintf("ptc%d-hub", c.ID) }
func (c Config) ns(i int) string    { return fmt.Sprintf("ptc%d-c%d", c.ID, i) }
func (c Config) ip(i int) string    { return fmt.Sprintf("10.77.%d.%d", c.ID, 10+i) }
func (c Config) hubIP() string      { return fmt.Sprintf("10.77.%d.1", c.ID) }
func (c Config) veth(i int) string  { return fmt.Sprintf("ptc%dv%d", c.ID, i) }
func (c Config) vpeer(i int) string { return fmt.Sprintf("ptc%dp%d", c.ID, i) }

// Setup makes the namespaces, the bridge and the links.
func Setup(c Config) error {
	steps := [][]string{
		{"ip", "netns", "add", c.hub()},
		{"ip", "netns", "exec", c.hub(), "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", c.hub(), "ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "netns", "exec", c.hub(), "ip", "addr", "add", c.hubIP() + "/24", "dev", "br0"},
		{"ip", "netns", "exec", c.hub(), "ip", "link", "set", "br0", "up"},
	}
	for i := 0; i < c.Clusters; i++ {
		steps = append(steps,
			[]string{"ip", "netns", "add", c.ns(i)},
			[]string{"ip", "netns", "exec", c.ns(i), "ip", "link", "set", "lo", "up"},
			[]string{"ip", "link", "add", c.veth(i), "netns", c.ns(i), "type", "veth", "peer", "name", c.vpeer(i), "netns", c.hub()},
			[]string{"ip", "netns", "exec", c.ns(i), "ip", "addr", "add", c.ip(i) + "/24", "dev", c.veth(i)},
			[]string{"ip", "netns", "exec", c.ns(i), "ip", "link", "set", c.veth(i), "up"},
			[]string{"ip", "netns", "exec", c.hub(), "ip", "link", "set", c.vpeer(i), "master", "br0"},
			[]string{"ip", "netns", "exec", c.hub(), "ip", "link", "set", c.vpeer(i), "up"},
		)
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			Teardown(c)
			return err
		}
	}
	return nil
}

// Teardown removes the namespaces (and with them the links).
func Teardown(c Config) {
	for i := 0; i < c.Clusters; i++ {
		exec.Command("ip", "netns", "del", c.ns(i)).Run()
	}
	exec.Command("ip", "netns", "del", c.hub()).Run()
}

// sampleClusters are the clusters of the sample enterprise the agents are
// seeded with: writes must name a cluster the enterprise has.
var sampleClusters = []string{"tpa1", "sfo", "lon", "tpa2", "ams"}

// Report is the outcome of a run.
type Report struct {
	Writes, Acked, Failed int
	Faults                map[string]int
	Lost                  int
	Converged             bool
	ConvergeTime          time.Duration
	Problems              []string
}

// Inner runs the workload and the faults; it must run inside the hub
// namespace, where the bridge reaches every cluster.
func Inner(ctx context.Context, c Config) (*Report, error) {
	rnd := rand.New(rand.NewSource(c.Seed))
	names := make([]string, c.Clusters)
	hosts := make([]string, c.Clusters)
	if c.Clusters < 2 || c.Clusters > len(sampleClusters) {
		return nil, fmt.Errorf("chaos net runs 2 to %d clusters (those of the sample enterprise)", len(sampleClusters))
	}
	for i := range names {
		names[i], hosts[i] = sampleClusters[i], c.ip(i)
	}
	e, err := demo.Prepare(demo.Config{Binary: c.Binary, Dir: c.Dir, Clusters: names, Nodes: 1, Mode: c.Mode, PortBase: 7400,
		Seed: true, Hosts: hosts, Exec: func(k int) []string { return []string{"ip", "netns", "exec", c.ns(k)} }})
	if err != nil {
		return nil, err
	}
	if err := e.Start(); err != nil {
		return nil, err
	}
	defer e.Stop()
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = e.WaitReady(wait)
	cancel()
	if err != nil {
		return nil, err
	}
	nodes := e.Nodes()
	rep := &Report{Faults: map[string]int{}}
	netem := exec.Command("ip", "netns", "exec", c.ns(0), "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").Run() == nil
	if netem {
		exec.Command("ip", "netns", "exec", c.ns(0), "tc", "qdisc", "del", "dev", "lo", "root").Run()
	} else {
		fmt.Fprintln(c.Out, "note: this kernel has no tc netem: delay and loss faults are skipped")
	}
	down := map[int]string{} // node → "killed" or "stopped"
	var acked []pbx.Fields
	heal := func() {
		for i := range nodes {
			exec.Command("ip", "netns", "exec", c.ns(i), "iptables", "-F").Run()
			if netem {
				exec.Command("ip", "netns", "exec", c.ns(i), "tc", "qdisc", "del", "dev", c.veth(i), "root").Run()
			}
			switch down[i] {
			case "stopped":
				nodes[i].Signal(syscall.SIGCONT)
			case "killed":
				nodes[i].Start()
			}
			delete(down, i)
		}
	}
	fault := func() string {
		i := rnd.Intn(len(nodes))
		switch k := rnd.Intn(5); {
		case k == 0 && down[i] == "":
			nodes[i].Signal(syscall.SIGKILL)
			nodes[i].Wait(5 * time.Second)
			down[i] = "killed"
			return "kill -9 " + nodes[i].Name
		case k == 1 && down[i] == "":
			nodes[i].Signal(syscall.SIGSTOP)
			down[i] = "stopped"
			return "SIGSTOP " + nodes[i].Name
		case k == 2 && netem:
			run("ip", "netns", "exec", c.ns(i), "tc", "qdisc", "replace", "dev", c.veth(i), "root", "netem", "delay", "100ms", "20ms", "loss", "10%")
			return "netem delay+loss at " + nodes[i].Name
		default:
			j := (i + 1 + rnd.Intn(len(nodes)-1)) % len(nodes)
			for _, p := range [][2]int{{i, j}, {j, i}} {
				run("ip", "netns", "exec", c.ns(p[0]), "iptables", "-A", "INPUT", "-s", c.ip(p[1]), "-j", "DROP")
			}
			return fmt.Sprintf("partition %s | %s", nodes[i].Name, nodes[j].Name)
		}
	}
	end := time.Now().Add(c.Duration)
	nextFault := time.Now().Add(2 * time.Second)
	faulty := false
	for n := 0; time.Now().Before(end) && ctx.Err() == nil; n++ {
		if time.Now().After(nextFault) {
			if faulty {
				heal()
				fmt.Fprintln(c.Out, "heal")
			} else {
				f := fault()
				rep.Faults[strings.Fields(f)[0]]++
				fmt.Fprintln(c.Out, "fault:", f)
			}
			faulty = !faulty
			nextFault = time.Now().Add(time.Duration(2+rnd.Intn(4)) * time.Second)
		}
		i := rnd.Intn(len(nodes))
		f := pbx.Fields{"cluster": names[i], "regexten": fmt.Sprint(900000 + n), "name": fmt.Sprintf("chaos-net write %d", n)}
		rep.Writes++
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := e.Client(nodes[i], "operator").Put(wctx, "extensions", f, service.PutOptions{Must: store.MustNotExist})
		cancel()
		if err == nil {
			rep.Acked++
			acked = append(acked, f)
		} else {
			rep.Failed++
		}
		time.Sleep(50 * time.Millisecond)
	}
	heal()
	start := time.Now()
	for time.Since(start) < 60*time.Second && ctx.Err() == nil {
		v, err := e.Client(nodes[0], "read").ReplVerify(ctx)
		if err == nil && v.AllSame && len(v.Rows) == len(nodes)-1 {
			rep.Converged = true
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	rep.ConvergeTime = time.Since(start)
	if !rep.Converged {
		rep.Problems = append(rep.Problems, "replicas did not converge within 60 s of the heal")
	}
	for _, n := range nodes {
		for _, f := range acked {
			if _, err := e.Client(n, "read").Get(ctx, "extensions", f["cluster"]+"/"+f["regexten"]); err != nil {
				rep.Lost++
				if rep.Lost <= 10 {
					rep.Problems = append(rep.Problems, fmt.Sprintf("%s lacks acknowledged write %s/%s: %v", n.Name, f["cluster"], f["regexten"], err))
				}
			}
		}
	}
	return rep, nil
}
