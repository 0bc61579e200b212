package srv

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pbxtopo/pbxtopo/store"
)

// The tests in this file run real DNS software from Debian (.ci/run
// installs it): dig, BIND's named and NSD. Each skips, saying what to
// install, where its binary is missing.

func need(t *testing.T, bin, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, err := os.Stat(filepath.Join(dir, bin)); err == nil {
				return filepath.Join(dir, bin)
			}
		}
		t.Skipf("%s is not installed: apt-get install %s (.ci/run does)", bin, pkg)
	}
	return p
}

func dig(t *testing.T, addr netip.AddrPort, args ...string) string {
	t.Helper()
	bin := need(t, "dig", "dnsutils")
	all := append([]string{"@" + addr.Addr().String(), "-p", fmt.Sprint(addr.Port()), "+tries=1", "+time=2", "+norecurse"}, args...)
	out, err := exec.Command(bin, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

func TestDig(t *testing.T) {
	need(t, "dig", "dnsutils")
	st := newStore(t)
	putClusters(t, st, sampleClusters(t)...)
	putClusters(t, st, bigEnterprise(25)...)
	s := startServer(t, st, nil, func(c *Config) { c.AllowTransfer = []string{"127.0.0.1"} })
	addr := s.Addr()
	if got, want := dig(t, addr, "+short", "_sip._udp.tpa1.voice.example.net", "SRV"),
		"10 0 5060 tpa1.voice.example.net.\n20 0 5060 tpa2.voice.example.net.\n30 0 5060 sfo.voice.example.net.\n"; got != want {
		t.Fatalf("SRV:\n%s\nwant\n%s", got, want)
	}
	if got := dig(t, addr, "+short", "+tcp", "TPA2.voice.example.net", "NAPTR"); !strings.Contains(got, `10 10 "S" "SIP+D2U" "" _sip._udp.tpa2.voice.example.net.`) {
		t.Fatalf("NAPTR over TCP:\n%s", got)
	}
	out := dig(t, addr, "_sip._udp.tpa1.voice.example.net", "SRV")
	for _, want := range []string{"status: NOERROR", "flags: qr aa;", "ANSWER: 3, AUTHORITY: 0, ADDITIONAL: 4", "; EDNS: version: 0, flags:; udp: 1232",
		"tpa2.voice.example.net.\t30\tIN\tA\t192.168.0.208"} {
		if !strings.Contains(out, want) {
			t.Errorf("full answer lacks %q:\n%s", want, out)
		}
	}
	if out := dig(t, addr, "nope.voice.example.net", "A"); !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, "AUTHORITY: 1") {
		t.Errorf("NXDOMAIN:\n%s", out)
	}
	if out := dig(t, addr, "www.example.com", "A"); !strings.Contains(out, "status: REFUSED") {
		t.Errorf("outside the zone:\n%s", out)
	}
	// Too big for 512 bytes without EDNS: truncated, and dig's retry over
	// TCP gets it all.
	if out := dig(t, addr, "+noedns", "+ignore", "_sip._udp.c00.voice.example.net", "SRV"); !strings.Contains(out, "flags: qr aa tc;") {
		t.Errorf("no TC without EDNS:\n%s", out)
	}
	if out := dig(t, addr, "+noedns", "+short", "_sip._udp.c00.voice.example.net", "SRV"); strings.Count(out, "\n") != 25 {
		t.Errorf("the TCP retry after TC:\n%s", out)
	}
	axfr := dig(t, addr, "AXFR", "voice.example.net")
	z, _ := s.Zone()
	if strings.Count(axfr, "\tSOA\t") != 2 || !strings.Contains(axfr, fmt.Sprintf("XFR size: %d records", len(z.Records)+2)) {
		t.Errorf("AXFR:\n%s", axfr)
	}
}

func TestZoneTextLoadsInNSDAndBIND(t *testing.T) {
	st := sampleStore(t)
	z, err := BuildZone(DefaultConfig(), mustClusters(t, st), nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "voice.zone")
	os.WriteFile(file, []byte(z.Text()), 0o644)
	ran := false
	for _, c := range [][]string{{"named-checkzone", "bind9-utils", "voice.example.net", file}, {"nsd-checkzone", "nsd", "voice.example.net", file}} {
		bin, err := exec.LookPath(c[0])
		if err != nil {
			if bin, err = exec.LookPath("/usr/sbin/" + c[0]); err != nil {
				t.Logf("%s is not installed (apt-get install %s): not checked with it", c[0], c[1])
				continue
			}
		}
		ran = true
		if out, err := exec.Command(bin, c[2:]...).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s\n%s", c[0], err, out, z.Text())
		}
	}
	if !ran {
		t.Skip("neither named-checkzone nor nsd-checkzone is installed: apt-get install bind9-utils nsd")
	}
}

func mustClusters(t *testing.T, src Source) []Cluster {
	t.Helper()
	var cs []Cluster
	if err := src.View(func(sn *store.Snapshot) error {
		var err error
		cs, _, err = LoadClusters(sn)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return cs
}

// freePort returns a port free for UDP and TCP on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	u, tc, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := u.LocalAddr().(*net.UDPAddr).Port
	u.Close()
	tc.Close()
	return p
}

// secondaryServer is a real DNS server run as a secondary of ours.
type secondaryServer struct {
	name string
	addr netip.AddrPort
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

func startNamed(t *testing.T, primary netip.AddrPort) *secondaryServer {
	bin := need(t, "named", "bind9")
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	notify no;
	dnssec-validation no;
	allow-query { any; };
};
controls { };
zone "voice.example.net" {
	type secondary;
	primaries { %[3]s port %[4]d; };
	file "%[1]s/voice.example.net.db";
	allow-notify { 127.0.0.1; };
};
`, dir, port, primary.Addr(), primary.Port())
	os.WriteFile(filepath.Join(dir, "named.conf"), []byte(conf), 0o644)
	return runSecondary(t, "named", port, bin, "-g", "-n", "1", "-4", "-c", filepath.Join(dir, "named.conf"))
}

func startNSD(t *testing.T, primary netip.AddrPort) *secondaryServer {
	bin := need(t, "nsd", "nsd")
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1@%[2]d
	port: %[2]d
	username: ""
	chroot: ""
	zonesdir: "%[1]s"
	database: ""
	pidfile: "%[1]s/nsd.pid"
	xfrdfile: "%[1]s/xfrd.state"
	xfrdir: "%[1]s"
	zonelistfile: "%[1]s/zone.list"
	server-count: 1
	rrl-ratelimit: 0
	verbosity: 2
remote-control:
	control-enable: no
zone:
	name: voice.example.net
	zonefile: "%[1]s/voice.example.net.zone"
	request-xfr: %[3]s@%[4]d NOKEY
	allow-notify: 127.0.0.1 NOKEY
`, dir, port, primary.Addr(), primary.Port())
	os.WriteFile(filepath.Join(dir, "nsd.conf"), []byte(conf), 0o644)
	return runSecondary(t, "nsd", port, bin, "-d", "-c", filepath.Join(dir, "nsd.conf"))
}

func runSecondary(t *testing.T, name string, port int, bin string, args ...string) *secondaryServer {
	t.Helper()
	s := &secondaryServer{name: name, addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), log: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, s.log)
		}
	})
	return s
}

// query asks the secondary without failing the test on a timeout.
func (s *secondaryServer) query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(m, s.addr.String())
	if err != nil {
		return nil
	}
	return r
}

func TestSecondaryFollowsByNotify(t *testing.T) {
	for _, kind := range []string{"named", "nsd"} {
		t.Run(kind, func(t *testing.T) {
			h := NewStaticHealth()
			st := sampleStore(t)
			port := freePort(t)
			// The secondary must exist before the server can name it in
			// dns.notify: pick its port first.
			primaryAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
			var sec *secondaryServer
			if kind == "named" {
				sec = startNamed(t, primaryAddr)
			} else {
				sec = startNSD(t, primaryAddr)
			}
			s := startServer(t, st, h, func(c *Config) {
				c.Addr = primaryAddr.String()
				c.AllowTransfer = []string{"127.0.0.1"}
				c.Notify = []string{sec.addr.String()}
			})
			_, serial := s.Zone()
			name := "_sip._udp.tpa1." + zoneName
			servesSerial := func(want uint32) bool {
				r := sec.query(zoneName, dns.TypeSOA)
				return r != nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 && r.Answer[0].(*dns.SOA).Serial == want
			}
			eventually(t, 20*time.Second, kind+" transfers the zone", func() bool { return servesSerial(serial) })
			if r := sec.query(name, dns.TypeSRV); r == nil || len(r.Answer) != 3 {
				t.Fatalf("%s serves %v", kind, r)
			}
			// tpa2 goes down: the serial rises, NOTIFY goes out, and the
			// secondary serves the answer without tpa2 — long before its
			// refresh timer (300 s) would have.
			start := time.Now()
			h.Set("tpa2", false)
			eventually(t, 5*time.Second, "new serial", func() bool { _, s2 := s.Zone(); return s2 != serial })
			_, serial2 := s.Zone()
			eventually(t, 20*time.Second, kind+" serves the new answer after NOTIFY", func() bool {
				if !servesSerial(serial2) {
					return false
				}
				r := sec.query(name, dns.TypeSRV)
				return r != nil && len(r.Answer) == 2
			})
			t.Logf("%s served the new answer %v after the health change", kind, time.Since(start).Round(time.Millisecond))
		})
	}
}
