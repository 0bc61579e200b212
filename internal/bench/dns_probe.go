package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/sipstub"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/pbxtopo/pbxtopo/store"
)

func runtimeCPUs() int { return runtime.NumCPU() }

// probeDetection measures, with the probe's default settings, the time
// from a voice VIP going silent (its cluster's agents already gone) to the
// first SRV answer without the cluster. The "VIP" is a SIP responder on
// loopback that answers OPTIONS with 200 OK, as Asterisk does.
func probeDetection(ctx context.Context, env Env, quick bool) ([]Result, error) {
	rounds := 5
	if quick {
		rounds = 1
	}
	ua, err := sipstub.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := int(ua.Addr().Port())
	// c01's Asterisk answers throughout, on a VIP of its own.
	other, err := sipstub.Listen("127.0.0.1:0")
	if err != nil {
		ua.Close()
		return nil, err
	}
	defer other.Close()
	ports := []int{port, int(other.Addr().Port())}
	cfg := store.DefaultConfig(filepath.Join(env.Dir, "probe.db"))
	cfg.Replica = ClusterName(0)
	st, err := store.Open(cfg)
	if err != nil {
		ua.Close()
		return nil, err
	}
	defer st.Close()
	var muts []store.Mutation
	for i, fo := range []string{ClusterName(1), ClusterName(0)} {
		f := pbx.Fields{"name": ClusterName(i), "site": "s", "voice_vip": "127.0.0.1", "sip_port": strconv.Itoa(ports[i]), "failover": fo}
		muts = append(muts, store.Mutation{Table: "clusters", Key: f["name"], Value: f.AppendBinary(nil)})
	}
	if _, err := st.Write(ctx, "bench", muts); err != nil {
		ua.Close()
		return nil, err
	}
	pc := srv.DefaultProbeConfig()
	pc.Enabled = true
	members := srv.NewStaticHealth(ClusterName(0)) // every agent of c00 is gone
	checker, err := srv.NewChecker(srv.CheckerConfig{Probe: pc}, srv.CheckerDeps{Members: members, Source: st})
	if err != nil {
		ua.Close()
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); checker.Run(cctx) }()
	defer wg.Wait()
	defer cancel()
	scfg := srv.DefaultConfig()
	scfg.Addr = "127.0.0.1:0"
	s, err := srv.New(scfg, srv.Deps{Source: st, Health: checker})
	if err != nil {
		ua.Close()
		return nil, err
	}
	if err := s.Start(); err != nil {
		ua.Close()
		return nil, err
	}
	defer s.Close()
	name := "_sip._udp." + ClusterName(1) + ".voice.example.net."
	waitCount := func(want int, limit time.Duration) (time.Duration, error) {
		start := time.Now()
		for {
			n, err := srvCount(s.Addr(), name)
			if err != nil {
				return 0, err
			}
			if n == want {
				return time.Since(start), nil
			}
			if time.Since(start) > limit {
				return 0, fmt.Errorf("SRV answer of %s has %d records after %v, want %d", name, n, limit, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var times []time.Duration
	for i := 0; i < rounds; i++ {
		// Up: wait until the VIP has answered a probe and the answer
		// shows it.
		for start := time.Now(); !probedUp(checker, ClusterName(0)); time.Sleep(5 * time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				ua.Close()
				return nil, fmt.Errorf("the probe never found %s's VIP answering", ClusterName(0))
			}
		}
		if _, err := waitCount(2, 10*time.Second); err != nil {
			ua.Close()
			return nil, err
		}
		ua.Close()
		d, err := waitCount(1, 10*time.Second)
		if err != nil {
			return nil, err
		}
		times = append(times, d)
		if ua, err = listenAgain(port); err != nil {
			return nil, err
		}
	}
	ua.Close()
	return []Result{{Name: fmt.Sprintf("dead VIP to first answer without it, probe defaults (%v/%v/down after %d), median of %d",
		pc.Interval, pc.Timeout, pc.DownAfter, rounds), Value: ms(Percentile(times, 50)), Unit: "ms",
		Goal: "< 5000 (with membership)", Note: fmt.Sprintf("min %.0f ms, max %.0f ms", ms(Percentile(times, 0)), ms(Percentile(times, 100)))}}, nil
}

// listenAgain answers on a port just closed, which may take a moment to
// be free again.
func listenAgain(port int) (*sipstub.Responder, error) {
	var err error
	for try := 0; try < 100; try++ {
		var r *sipstub.Responder
		if r, err = sipstub.Listen(fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			return r, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, err
}

// probedUp reports whether the probe's verdict on a cluster's VIP is up.
func probedUp(c *srv.Checker, cluster string) bool {
	for _, h := range c.Status() {
		if h.Cluster == cluster {
			return h.Probe != nil && *h.Probe
		}
	}
	return false
}
