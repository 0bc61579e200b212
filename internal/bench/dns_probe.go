package bench

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

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
	ua, err := newSipResponder(0)
	if err != nil {
		return nil, err
	}
	port := ua.port
	cfg := store.DefaultConfig(filepath.Join(env.Dir, "probe.db"))
	cfg.Replica = ClusterName(0)
	st, err := store.Open(cfg)
	if err != nil {
		ua.stop()
		return nil, err
	}
	defer st.Close()
	var muts []store.Mutation
	for i, fo := range []string{ClusterName(1), ClusterName(0)} {
		f := pbx.Fields{"name": ClusterName(i), "site": "s", "voice_vip": "127.0.0.1", "sip_port": strconv.Itoa(port), "failover": fo}
		muts = append(muts, store.Mutation{Table: "clusters", Key: f["name"], Value: f.AppendBinary(nil)})
	}
	if _, err := st.Write(ctx, "bench", muts); err != nil {
		ua.stop()
		return nil, err
	}
	pc := srv.DefaultProbeConfig()
	pc.Enabled = true
	members := srv.NewStaticHealth(ClusterName(0)) // every agent of c00 is gone
	checker, err := srv.NewChecker(srv.CheckerConfig{Probe: pc}, srv.CheckerDeps{Members: members, Source: st})
	if err != nil {
		ua.stop()
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
		ua.stop()
		return nil, err
	}
	if err := s.Start(); err != nil {
		ua.stop()
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
		// Up: wait until the VIP has answered a probe.
		if _, err := waitCount(2, 10*time.Second); err != nil {
			ua.stop()
			return nil, err
		}
		ua.stop()
		d, err := waitCount(1, 10*time.Second)
		if err != nil {
			return nil, err
		}
		times = append(times, d)
		if ua, err = newSipResponder(port); err != nil {
			return nil, err
		}
	}
	ua.stop()
	return []Result{{Name: fmt.Sprintf("dead VIP to first answer without it, probe defaults (%v/%v/down after %d), median of %d",
		pc.Interval, pc.Timeout, pc.DownAfter, rounds), Value: ms(Percentile(times, 50)), Unit: "ms",
		Goal: "< 5000 (with membership)", Note: fmt.Sprintf("min %.0f ms, max %.0f ms", ms(Percentile(times, 0)), ms(Percentile(times, 100)))}}, nil
}

// sipResponder answers every SIP request with 200 OK, echoing the headers
// a UAC matches on.
type sipResponder struct {
	conn *net.UDPConn
	port int
	done chan struct{}
}

func newSipResponder(port int) (*sipResponder, error) {
	var conn *net.UDPConn
	var err error
	for try := 0; try < 100; try++ { // a port just closed may not be free at once
		if conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	r := &sipResponder{conn: conn, port: conn.LocalAddr().(*net.UDPAddr).Port, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var b strings.Builder
			b.WriteString("SIP/2.0 200 OK\r\n")
			for _, l := range strings.Split(string(buf[:n]), "\r\n") {
				h, _, _ := strings.Cut(l, ":")
				switch strings.ToLower(h) {
				case "via", "from", "to", "call-id", "cseq":
					b.WriteString(l + "\r\n")
				}
			}
			b.WriteString("Content-Length: 0\r\n\r\n")
			conn.WriteToUDPAddrPort([]byte(b.String()), from)
		}
	}()
	return r, nil
}

func (r *sipResponder) stop() {
	r.conn.Close()
	<-r.done
}
