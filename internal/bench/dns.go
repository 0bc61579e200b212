package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/pbxtopo/pbxtopo/store"
)

// DNS measures SRV answers per second and their latency over UDP on
// loopback with dnsperf, against pbxtopo's server and, in the same run,
// NSD serving the same zone from a file (the anchor); then how fast a
// health change reaches the answers, and how long the SIP OPTIONS probe
// takes, with its defaults, to notice a dead voice VIP.
func DNS(ctx context.Context, env Env) ([]Result, error) {
	d, quick := 5*time.Second, env.Quick
	if quick {
		d = time.Second
	}
	st, err := dnsStore(filepath.Join(env.Dir, "store.db"), 10)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	health := srv.NewStaticHealth()
	cfg := srv.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	s, err := srv.New(cfg, srv.Deps{Source: st, Health: health})
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	defer s.Close()
	z, _ := s.Zone()
	queries := filepath.Join(env.Dir, "queries.txt")
	var names []string
	for i := 0; i < 10; i++ {
		for _, p := range []string{"_sip._udp", "_sip._tcp", "_sips._tcp"} {
			names = append(names, fmt.Sprintf("%s.%s.%s SRV", p, ClusterName(i), z.Origin))
		}
	}
	if err := os.WriteFile(queries, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	var out []Result
	if _, err := exec.LookPath("dnsperf"); err != nil {
		env.Log.Warn("dnsperf is not installed (apt-get install dnsperf): no query rate measured")
	} else {
		rs, err := dnsRates(ctx, env, s.Addr(), z, queries, d)
		out = append(out, rs...)
		if err != nil {
			return out, err
		}
	}
	rs, err := healthToAnswer(ctx, s, health, quick)
	out = append(out, rs...)
	if err != nil {
		return out, err
	}
	rs, err = probeDetection(ctx, env, quick)
	return append(out, rs...), err
}

// dnsStore makes a store with n clusters, each failing over to the next two.
func dnsStore(path string, n int) (*store.Store, error) {
	cfg := store.DefaultConfig(path)
	cfg.Replica = ClusterName(0)
	st, err := store.Open(cfg)
	if err != nil {
		return nil, err
	}
	var muts []store.Mutation
	for i := 0; i < n; i++ {
		f := pbx.Fields{"name": ClusterName(i), "site": fmt.Sprintf("s%02d", i/2), "voice_vip": fmt.Sprintf("10.%d.0.218", i),
			"failover": ClusterName((i+1)%n) + "," + ClusterName((i+2)%n)}
		muts = append(muts, store.Mutation{Table: "clusters", Key: f["name"], Value: f.AppendBinary(nil)})
	}
	if _, err := st.Write(context.Background(), "bench", muts); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// dnsRates runs dnsperf at full speed against srv, then NSD, then each
// again at a fixed rate with every latency reported, for the p99.
func dnsRates(ctx context.Context, env Env, addr netip.AddrPort, z *srv.Zone, queries string, d time.Duration) ([]Result, error) {
	ours, err := dnsperf(ctx, addr, queries, d, 0)
	if err != nil {
		return nil, fmt.Errorf("dnsperf against pbxtopo: %w", err)
	}
	out := []Result{{Name: "SRV over UDP, pbxtopo (dnsperf, loopback)", Value: ours.qps, Unit: "queries/s", Goal: ">= 100000",
		Note: fmt.Sprintf("avg latency %.3f ms, lost %d", ours.avg*1000, ours.lost)}}
	nsd, stop, err := startNSD(ctx, env, z)
	if err != nil {
		env.Log.Warn("NSD not measured", "err", err)
		return out, nil
	}
	defer stop()
	theirs, err := dnsperf(ctx, nsd, queries, d, 0)
	if err != nil {
		return out, fmt.Errorf("dnsperf against NSD: %w", err)
	}
	out[0].Anchor, out[0].AnchorValue = "NSD, same zone from a file", theirs.qps
	out = append(out, Result{Name: "SRV over UDP, NSD (anchor)", Value: theirs.qps, Unit: "queries/s",
		Note: fmt.Sprintf("avg latency %.3f ms, lost %d", theirs.avg*1000, theirs.lost)})
	out = append(out, Result{Name: "pbxtopo rate / NSD rate", Value: ours.qps / theirs.qps, Unit: "x", Goal: ">= 0.5"})
	// p99 at a rate both sustain, so it measures answering, not queueing.
	rate := int(min(ours.qps, theirs.qps) / 2)
	p99s := map[string]float64{}
	for name, a := range map[string]netip.AddrPort{"pbxtopo": addr, "NSD": nsd} {
		r, err := dnsperf(ctx, a, queries, min(d, 2*time.Second), rate)
		if err != nil {
			return out, err
		}
		p99s[name] = r.p99 * 1000
	}
	out = append(out, Result{Name: fmt.Sprintf("SRV p99 latency at %d queries/s, pbxtopo", rate), Value: p99s["pbxtopo"], Unit: "ms",
		Anchor: "NSD at the same rate", AnchorValue: p99s["NSD"]})
	return out, nil
}

type perf struct {
	qps, avg, p99 float64
	lost          int
}

var (
	reQPS  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reAvg  = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
	reLost = regexp.MustCompile(`Queries lost:\s+(\d+)`)
)

// dnsperf runs dnsperf for d. rate 0 means as fast as it goes; a rate
// turns on per-query output, from which the p99 latency is taken.
func dnsperf(ctx context.Context, addr netip.AddrPort, queries string, d time.Duration, rate int) (perf, error) {
	args := []string{"-s", addr.Addr().String(), "-p", strconv.Itoa(int(addr.Port())), "-d", queries,
		"-l", strconv.Itoa(int(d.Seconds())), "-c", "4", "-T", "2", "-q", "200", "-t", "2"}
	if rate > 0 {
		args = append(args, "-Q", strconv.Itoa(rate), "-v")
	}
	cmd := exec.CommandContext(ctx, "dnsperf", args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return perf{}, err
	}
	if err := cmd.Start(); err != nil {
		return perf{}, err
	}
	var lats []time.Duration
	var text strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		// -v prints "> NOERROR name type 0.000123" per answer.
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			if s, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				lats = append(lats, time.Duration(s*float64(time.Second)))
			}
			continue
		}
		text.WriteString(line + "\n")
	}
	if err := cmd.Wait(); err != nil {
		return perf{}, fmt.Errorf("%v\n%s", err, text.String())
	}
	var p perf
	m := reQPS.FindStringSubmatch(text.String())
	if m == nil {
		return p, fmt.Errorf("no rate in dnsperf's output:\n%s", text.String())
	}
	p.qps, _ = strconv.ParseFloat(m[1], 64)
	if m := reAvg.FindStringSubmatch(text.String()); m != nil {
		p.avg, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reLost.FindStringSubmatch(text.String()); m != nil {
		p.lost, _ = strconv.Atoi(m[1])
	}
	p.p99 = Percentile(lats, 99).Seconds()
	return p, nil
}

// startNSD serves the zone from a file with NSD on a free loopback port,
// one server process per CPU as pbxtopo has, and response rate limiting
// off (Debian's NSD turns it on).
func startNSD(ctx context.Context, env Env, z *srv.Zone) (netip.AddrPort, func(), error) {
	bin, err := exec.LookPath("nsd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nsd"); err != nil {
			return netip.AddrPort{}, nil, fmt.Errorf("nsd is not installed (apt-get install nsd)")
		}
	}
	dir := filepath.Join(env.Dir, "nsd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return netip.AddrPort{}, nil, err
	}
	port, err := freeDNSPort()
	if err != nil {
		return netip.AddrPort{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "voice.zone"), []byte(z.Text()), 0o644); err != nil {
		return netip.AddrPort{}, nil, err
	}
	conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1@%[2]d
	port: %[2]d
	username: ""
	chroot: ""
	zonesdir: "%[1]s"
	database: ""
	pidfile: "%[1]s/nsd.pid"
	xfrdfile: "%[1]s/xfrd.state"
	zonelistfile: "%[1]s/zone.list"
	server-count: %[4]d
	rrl-ratelimit: 0
	verbosity: 0
remote-control:
	control-enable: no
zone:
	name: %[3]s
	zonefile: "%[1]s/voice.zone"
`, dir, port, z.Origin, runtimeCPUs())
	if err := os.WriteFile(filepath.Join(dir, "nsd.conf"), []byte(conf), 0o644); err != nil {
		return netip.AddrPort{}, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-d", "-c", filepath.Join(dir, "nsd.conf"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return netip.AddrPort{}, nil, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion(z.Origin, dns.TypeSOA)
		r, _, err := (&dns.Client{Timeout: 200 * time.Millisecond}).Exchange(m, addr.String())
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return netip.AddrPort{}, nil, fmt.Errorf("NSD did not serve the zone within 10 s:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeDNSPort returns a loopback port free for UDP and TCP.
func freeDNSPort() (int, error) {
	for try := 0; try < 20; try++ {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		u.Close()
		if err == nil {
			t.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port for UDP and TCP on 127.0.0.1")
}

// healthToAnswer measures the time from a health change to the first
// answer that shows it: a cluster goes down, then up again, many times.
func healthToAnswer(ctx context.Context, s *srv.Server, h *srv.StaticHealth, quick bool) ([]Result, error) {
	rounds := 50
	if quick {
		rounds = 6
	}
	name := "_sip._udp." + ClusterName(0) + "." + "voice.example.net."
	var times []time.Duration
	for i := 0; i < rounds; i++ {
		up := i%2 == 1
		want := 2
		if up {
			want = 3
		}
		start := time.Now()
		h.Set(ClusterName(1), up)
		for {
			n, err := srvCount(s.Addr(), name)
			if err != nil {
				return nil, err
			}
			if n == want {
				break
			}
			if time.Since(start) > 5*time.Second || ctx.Err() != nil {
				return nil, fmt.Errorf("the health change did not reach the answers within 5 s")
			}
		}
		times = append(times, time.Since(start))
	}
	return []Result{{Name: fmt.Sprintf("health change to first answer without the cluster, median of %d", rounds),
		Value: ms(Percentile(times, 50)), Unit: "ms", Note: fmt.Sprintf("max %.2f ms; includes the fsync of the new serial", ms(Percentile(times, 100)))}}, nil
}

func srvCount(addr netip.AddrPort, name string) (int, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeSRV)
	r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, addr.String())
	if err != nil {
		return 0, err
	}
	return len(r.Answer), nil
}
