package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/pbxtopo/pbxtopo/store"
)

// DNS measures SRV answers per second and the CPU each answer costs,
// over UDP on loopback with dnsperf, against pbxtopo's server and NSD
// serving the same zone from a file (the anchor), in alternating runs of
// the same length; then how fast a health change reaches the answers, how
// long the SIP OPTIONS probe takes to notice a dead voice VIP, the SRV
// answers of real agents while every one restarts in turn, and how long
// the other agents keep answering with a cluster whose agent process was
// killed (SIGKILL). A
// measurement that cannot be made (dnsperf or NSD missing) fails the
// suite.
func DNS(ctx context.Context, env Env) ([]Result, error) {
	d, rounds, quick := 4*time.Second, 3, env.Quick
	if quick {
		d, rounds = time.Second, 1
	}
	env.Param("run", d)
	env.Param("rounds", rounds)
	env.Param("clusters", 10)
	env.Param("dnsperf", "-c 4 -T 2 -q 200 -t 2")
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
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return nil, fmt.Errorf("dnsperf is not installed (apt-get install dnsperf): the query rate cannot be measured")
	}
	out, err := dnsRates(ctx, env, s.Addr(), z, queries, d, rounds)
	if err != nil {
		return out, err
	}
	rs, err := healthToAnswer(ctx, s, health, quick)
	out = append(out, rs...)
	if err != nil {
		return out, err
	}
	rs, err = probeDetection(ctx, env, quick)
	out = append(out, rs...)
	if err != nil {
		return out, err
	}
	rs, err = restartInTurn(ctx, env)
	return append(out, rs...), err
}

// nsdSettings says how the NSD anchor runs.
func nsdSettings() string {
	return fmt.Sprintf("nsd -d, server-count %d (one per CPU), rrl-ratelimit 0, the same zone as pbxtopo's from a file, UDP on loopback", runtimeCPUs())
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

// dnsRates runs dnsperf at full speed against pbxtopo, then NSD, rounds
// times over, counting the CPU time each server used; then each at half
// the lower rate with every latency recorded, for the p99.
func dnsRates(ctx context.Context, env Env, addr netip.AddrPort, z *srv.Zone, queries string, d time.Duration, rounds int) ([]Result, error) {
	nsd, nsdPID, stop, err := startNSD(ctx, env, z)
	if err != nil {
		return nil, err
	}
	defer stop()
	var ours, theirs []perf
	for r := 0; r < rounds; r++ {
		p, err := measured(ctx, addr, queries, d, selfCPU)
		if err != nil {
			return nil, fmt.Errorf("dnsperf against pbxtopo: %w", err)
		}
		ours = append(ours, p)
		if p, err = measured(ctx, nsd, queries, d, func() (time.Duration, error) { return treeCPU(nsdPID) }); err != nil {
			return nil, fmt.Errorf("dnsperf against NSD: %w", err)
		}
		theirs = append(theirs, p)
		env.Log.Info("dns rates", "round", r+1, "pbxtopo_qps", int(ours[r].qps), "pbxtopo_cpu_us", ours[r].cpuPerQuery*1e6,
			"nsd_qps", int(theirs[r].qps), "nsd_cpu_us", theirs[r].cpuPerQuery*1e6)
	}
	o, n := median(ours), median(theirs)
	note := func(p perf, all []perf) string {
		var qps []string
		for _, x := range all {
			qps = append(qps, fmt.Sprintf("%.0f", x.qps))
		}
		return fmt.Sprintf("runs %s queries/s; avg latency %.3f ms, lost %d", strings.Join(qps, ", "), p.avg*1000, p.lost)
	}
	runs := fmt.Sprintf("median of %d alternating %v runs", rounds, d)
	out := []Result{
		{Name: "SRV over UDP, pbxtopo (dnsperf, loopback), " + runs, Value: o.qps, Unit: "queries/s",
			Anchor: "NSD, same zone from a file, same runs", AnchorValue: n.qps, Goal: ">= 0.8x NSD", Note: note(o, ours),
			AnchorSettings: nsdSettings()},
		{Name: "SRV over UDP, NSD (anchor), " + runs, Value: n.qps, Unit: "queries/s", Note: note(n, theirs)},
		{Name: "CPU per SRV answer, pbxtopo (user + system, the whole process)", Value: o.cpuPerQuery * 1e6, Unit: "µs",
			Anchor: "NSD, every process", AnchorValue: n.cpuPerQuery * 1e6, Goal: "<= 1.5x NSD"},
	}
	// p99 at a rate both sustain, so it measures answering, not queueing.
	rate := int(min(o.qps, n.qps) / 2)
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

// measured runs dnsperf at full speed and counts the CPU time the server
// used meanwhile (cpu reads its total so far).
func measured(ctx context.Context, addr netip.AddrPort, queries string, d time.Duration, cpu func() (time.Duration, error)) (perf, error) {
	before, err := cpu()
	if err != nil {
		return perf{}, err
	}
	p, err := dnsperf(ctx, addr, queries, d, 0)
	if err != nil {
		return p, err
	}
	after, err := cpu()
	if err != nil {
		return p, err
	}
	if p.answered == 0 {
		return p, fmt.Errorf("no query answered")
	}
	p.cpuPerQuery = (after - before).Seconds() / float64(p.answered)
	return p, nil
}

// median returns the run with the median rate; its CPU per query is the
// median of the runs' too.
func median(ps []perf) perf {
	s := append([]perf(nil), ps...)
	sort.Slice(s, func(i, j int) bool { return s[i].qps < s[j].qps })
	m := s[len(s)/2]
	sort.Slice(s, func(i, j int) bool { return s[i].cpuPerQuery < s[j].cpuPerQuery })
	m.cpuPerQuery = s[len(s)/2].cpuPerQuery
	return m
}

type perf struct {
	qps, avg, p99 float64
	lost          int
	answered      int     // queries completed
	cpuPerQuery   float64 // seconds of the server's CPU per answered query
}

var (
	reQPS  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reAvg  = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
	reLost = regexp.MustCompile(`Queries lost:\s+(\d+)`)
	reDone = regexp.MustCompile(`Queries completed:\s+(\d+)`)
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
	if m := reDone.FindStringSubmatch(text.String()); m != nil {
		p.answered, _ = strconv.Atoi(m[1])
	}
	p.p99 = Percentile(lats, 99).Seconds()
	return p, nil
}

// startNSD serves the zone from a file with NSD on a free loopback port,
// one server process per CPU as pbxtopo has, and response rate limiting
// off (Debian's NSD turns it on).
func startNSD(ctx context.Context, env Env, z *srv.Zone) (netip.AddrPort, int, func(), error) {
	bin, err := exec.LookPath("nsd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nsd"); err != nil {
			return netip.AddrPort{}, 0, nil, fmt.Errorf("nsd is not installed (apt-get install nsd): the anchor cannot be measured")
		}
	}
	dir := filepath.Join(env.Dir, "nsd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return netip.AddrPort{}, 0, nil, err
	}
	free, err := testnet.Free("127.0.0.1")
	if err != nil {
		return netip.AddrPort{}, 0, nil, err
	}
	port := netip.MustParseAddrPort(free).Port()
	if err := os.WriteFile(filepath.Join(dir, "voice.zone"), []byte(z.Text()), 0o644); err != nil {
		return netip.AddrPort{}, 0, nil, err
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
		return netip.AddrPort{}, 0, nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-d", "-c", filepath.Join(dir, "nsd.conf"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return netip.AddrPort{}, 0, nil, err
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
	addr := netip.MustParseAddrPort(free)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion(z.Origin, dns.TypeSOA)
		r, _, err := (&dns.Client{Timeout: 200 * time.Millisecond}).Exchange(m, addr.String())
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			return addr, cmd.Process.Pid, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return netip.AddrPort{}, 0, nil, fmt.Errorf("NSD did not serve the zone within 10 s:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
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
