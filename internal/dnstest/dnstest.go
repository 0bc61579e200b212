// Package dnstest runs real DNS servers from Debian in tests: NSD and
// BIND's named as secondaries of a pbxtopo zone, each on a loopback
// address of its own, configured as the README tells an operator to. A
// test that needs one skips, naming the package to install, where its
// binary is missing (.ci/run installs them).
package dnstest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Need returns the path of bin, or skips the test naming the package.
func Need(t testing.TB, bin, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err == nil {
			return filepath.Join(dir, bin)
		}
	}
	t.Skipf("%s is not installed: apt-get install %s (.ci/run does)", bin, pkg)
	return ""
}

// FreeAddr returns a port on ip free for both UDP and TCP.
func FreeAddr(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	for try := 0; try < 50; try++ {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		ap := u.LocalAddr().(*net.UDPAddr).AddrPort()
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		u.Close()
		if err == nil {
			l.Close()
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	t.Fatalf("no port free for UDP and TCP on %s", ip)
	return netip.AddrPort{}
}

// Secondary is a real DNS server transferring a zone from a primary.
type Secondary struct {
	Name string
	Addr netip.AddrPort // where it answers
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
}

// Config says where a secondary runs and whom it follows.
type Config struct {
	Addr    netip.AddrPort // where it answers (FreeAddr)
	Source  netip.Addr     // the address it transfers from; Addr's when not set
	Primary netip.AddrPort // the pbxtopo agent's dns_addr
	Zone    string         // e.g. voice.example.net
}

func (c Config) source() netip.Addr {
	if c.Source.IsValid() {
		return c.Source
	}
	return c.Addr.Addr()
}

// StartNamed runs BIND as a secondary with the README's zone statement: it
// accepts NOTIFY from its primary's address only (BIND's default). named
// listens only on addresses of an interface (loopback's is 127.0.0.1; NSD
// binds any address of 127/8): give it an Addr on 127.0.0.1 and a Source
// of its own.
func StartNamed(t testing.TB, c Config) *Secondary {
	bin := Need(t, "named", "bind9")
	dir := t.TempDir()
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[3]d { %[2]s; };
	listen-on-v6 { none; };
	transfer-source %[7]s;
	notify-source %[7]s;
	recursion no;
	notify no;
	dnssec-validation no;
	allow-query { any; };
};
controls { };
zone "%[6]s" { type secondary; primaries { %[4]s port %[5]d; }; file "%[1]s/zone.db"; };
`, dir, c.Addr.Addr(), c.Addr.Port(), c.Primary.Addr(), c.Primary.Port(), c.Zone, c.source())
	if err := os.WriteFile(filepath.Join(dir, "named.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return run(t, "named", c.Addr, bin, "-g", "-n", "1", "-4", "-c", filepath.Join(dir, "named.conf"))
}

// StartNSD runs NSD as a secondary with the README's zone lines
// (request-xfr and allow-notify naming the primary), transferring from its
// own address, response rate limiting off.
func StartNSD(t testing.TB, c Config) *Secondary {
	bin := Need(t, "nsd", "nsd")
	dir := t.TempDir()
	conf := fmt.Sprintf(`server:
	ip-address: %[2]s@%[3]d
	port: %[3]d
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
	name: %[6]s
	zonefile: "%[1]s/zone.db"
	request-xfr: %[4]s@%[5]d NOKEY
	allow-notify: %[4]s NOKEY
	outgoing-interface: %[7]s
`, dir, c.Addr.Addr(), c.Addr.Port(), c.Primary.Addr(), c.Primary.Port(), c.Zone, c.source())
	if err := os.WriteFile(filepath.Join(dir, "nsd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return run(t, "nsd", c.Addr, bin, "-d", "-c", filepath.Join(dir, "nsd.conf"))
}

func run(t testing.TB, name string, addr netip.AddrPort, bin string, args ...string) *Secondary {
	t.Helper()
	s := &Secondary{Name: name, Addr: addr}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = (*lockedWriter)(s), (*lockedWriter)(s)
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
			t.Logf("%s log:\n%s", name, s.Log())
		}
	})
	return s
}

type lockedWriter Secondary

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(p)
}

// Log returns what the server printed.
func (s *Secondary) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Query asks the server over UDP; nil on a timeout.
func (s *Secondary) Query(name string, qtype uint16) *dns.Msg { return Query(s.Addr, name, qtype) }

// Serial is the SOA serial the server serves, 0 when it serves none.
func (s *Secondary) Serial(zone string) uint32 {
	r := s.Query(dns.Fqdn(zone), dns.TypeSOA)
	if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return 0
	}
	if soa, ok := r.Answer[0].(*dns.SOA); ok {
		return soa.Serial
	}
	return 0
}

// Query asks addr over UDP without recursion; nil on a timeout.
func Query(addr netip.AddrPort, name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	r, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(m, addr.String())
	if err != nil {
		return nil
	}
	return r
}
