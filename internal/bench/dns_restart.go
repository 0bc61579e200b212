package bench

import (
	"context"
	"fmt"
	"math/rand"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
)

// restartInTurn runs the demo's enterprise as agent processes (probe off,
// the default) and restarts every agent cleanly, one at a time, while
// asking every agent for every cluster's SRV answer: each answer that
// leaves out a cluster counts, since every cluster stays live (its agent
// restarting is no departure).
func restartInTurn(ctx context.Context, env Env) ([]Result, error) {
	if env.Self == "" {
		return nil, fmt.Errorf("the restart measurement runs agent processes: it needs the pbxtopo binary (run pbxtopo bench dns)")
	}
	clusters := []string{"tpa1", "tpa2", "sfo", "lon", "ams"}
	if env.Quick {
		clusters = clusters[:3]
	}
	var e *demo.Enterprise
	for try := 0; ; try++ {
		var err error
		e, err = demo.Prepare(demo.Config{Binary: env.Self, Dir: filepath.Join(env.Dir, fmt.Sprintf("demo-%d", try)), Clusters: clusters,
			Nodes: 1, Mode: "mesh", PortBase: 20000 + rand.Intn(30000)/10*10, Seed: true})
		if err != nil {
			return nil, err
		}
		if err = e.CheckPorts(); err == nil {
			break
		} else if try == 5 {
			return nil, err
		}
	}
	if err := e.Start(); err != nil {
		return nil, err
	}
	defer e.Stop()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := e.WaitReady(wctx); err != nil {
		return nil, err
	}
	var names []string
	var servers []netip.AddrPort
	for _, c := range clusters {
		names = append(names, "_sip._udp."+c+".voice.example.net.")
	}
	for _, n := range e.Nodes() {
		servers = append(servers, netip.MustParseAddrPort(n.DNS))
	}
	// Every agent sees every cluster of the demo up before the watch.
	for _, n := range e.Nodes() {
		for {
			z, err := e.Client(n, "read").Zone(wctx, "")
			if err == nil && z.Live && !slices.ContainsFunc(z.Down, func(c string) bool { return slices.Contains(clusters, c) }) {
				break
			}
			if wctx.Err() != nil {
				return nil, fmt.Errorf("%s never answered with every cluster of the demo up (see %s)", n.Name, n.Log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	watch, err := demo.WatchAnswers(servers, names)
	if err != nil {
		return nil, err
	}
	var took []time.Duration
	for _, n := range e.Nodes() {
		start := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
		err := e.Restart(rctx, n)
		rcancel()
		if err != nil {
			watch.Stop()
			return nil, err
		}
		took = append(took, time.Since(start))
	}
	res := watch.Stop()
	if res.Answers == 0 {
		return nil, fmt.Errorf("no SRV answer while the agents restarted")
	}
	note := fmt.Sprintf("%d answers from %d agents, %d queries unanswered while an agent was down; stop to rejoined: median %.1f s, max %.1f s",
		res.Answers, len(servers), res.Unanswered, Percentile(took, 50).Seconds(), Percentile(took, 100).Seconds())
	if res.Omitting > 0 {
		note += fmt.Sprintf("; e.g. %v", res.Examples)
	}
	out := []Result{{Name: fmt.Sprintf("SRV answers leaving out a live cluster while each of %d agents restarts in turn (probe off)", len(servers)),
		Value: float64(res.Omitting), Unit: "answers", Goal: "0", Note: note}}
	rounds := 3
	if env.Quick {
		rounds = 1
	}
	env.Param("kill_rounds", rounds)
	rs, err := killToAnswer(ctx, e, rounds)
	return append(out, rs...), err
}
