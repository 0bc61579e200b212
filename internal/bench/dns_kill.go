package bench

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
)

// killLimit is how long the other agents have to drop a killed cluster
// from their answers; past it the measurement fails.
const killLimit = 30 * time.Second

// killToAnswer kills (SIGKILL) one cluster's only agent process at a
// time, with the probe off (the default: membership alone says whether a
// cluster is up, so the agent's death is its cluster's), and times until
// every other agent's SRV answer for that cluster leaves it out. The agent
// is started again and rejoins before the next round.
func killToAnswer(ctx context.Context, e *demo.Enterprise, rounds int) ([]Result, error) {
	nodes := e.Nodes()
	var took []time.Duration
	var victims []string
	for r := 0; r < rounds; r++ {
		victim := nodes[1+r%(len(nodes)-1)]
		name := "_sip._udp." + victim.Cluster + ".voice.example.net."
		var others []netip.AddrPort
		for _, n := range nodes {
			if n != victim {
				others = append(others, netip.MustParseAddrPort(n.DNS))
			}
		}
		holds := func(s netip.AddrPort) bool {
			got, ok := demo.SRVClusters(s, name)
			return ok && slices.Contains(got, victim.Cluster)
		}
		for _, s := range others {
			if err := poll(ctx, killLimit, func() bool { return holds(s) }); err != nil {
				return nil, fmt.Errorf("%s never answered %s with %s in it before the kill", s, name, victim.Cluster)
			}
		}
		start := time.Now()
		if err := victim.Signal(syscall.SIGKILL); err != nil {
			return nil, err
		}
		last := make([]time.Duration, len(others))
		var wg sync.WaitGroup
		for i, s := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(start) < killLimit && ctx.Err() == nil {
					if got, ok := demo.SRVClusters(s, name); ok && !slices.Contains(got, victim.Cluster) {
						last[i] = time.Since(start)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		var worst time.Duration
		for i, d := range last {
			if d == 0 {
				return nil, fmt.Errorf("%s still answered %s with %s %v after its agent was killed (SIGKILL)", others[i], name, victim.Cluster, killLimit)
			}
			worst = max(worst, d)
		}
		took, victims = append(took, worst), append(victims, victim.Cluster)
		// Back for the next round (and the rest of the suite).
		victim.Wait(5 * time.Second)
		if err := victim.Start(); err != nil {
			return nil, err
		}
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := e.WaitRejoined(rctx, victim)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	return []Result{{Name: fmt.Sprintf("agent process SIGKILLed (probe off) to every other agent's answer without its cluster, median of %d", rounds),
		Value: ms(Percentile(took, 50)), Unit: "ms", Goal: "< 3000",
		Note: fmt.Sprintf("killed %v, one at a time among %d agents; max %.0f ms; membership (serf) detects the death", victims, len(nodes), ms(Percentile(took, 100)))}}, nil
}
