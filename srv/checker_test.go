package srv

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// sipUA is a minimal SIP endpoint on loopback that answers OPTIONS with
// 200 OK, the way Asterisk does, until stopped.
type sipUA struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
	mu   sync.Mutex
	seen int
}

func startSipUA(t *testing.T, port int) *sipUA {
	t.Helper()
	var conn *net.UDPConn
	var err error
	// The port of a UA just stopped may take a moment to be free again.
	eventually(t, 2*time.Second, "bind the SIP port", func() bool {
		conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		return err == nil
	})
	ua := &sipUA{conn: conn}
	ua.wg.Add(1)
	go func() {
		defer ua.wg.Done()
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			ua.mu.Lock()
			ua.seen++
			ua.mu.Unlock()
			conn.WriteToUDPAddrPort(answerOptions(string(buf[:n])), from)
		}
	}()
	t.Cleanup(ua.stop)
	return ua
}

func (ua *sipUA) port() int { return ua.conn.LocalAddr().(*net.UDPAddr).Port }

func (ua *sipUA) stop() {
	ua.conn.Close()
	ua.wg.Wait()
}

func answerOptions(req string) []byte {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, l := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(name) {
		case "via", "from", "to", "call-id", "cseq":
			b.WriteString(l + "\r\n")
		}
	}
	b.WriteString("Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// probeCluster stores one cluster whose VIP is the loopback SIP UA.
func probeCluster(t *testing.T, port int) Source {
	st := newStore(t)
	putClusters(t, st, pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "127.0.0.1", "sip_port": strconv.Itoa(port)})
	return st
}

func fastProbe() CheckerConfig {
	return CheckerConfig{Probe: ProbeConfig{Enabled: true, Interval: 40 * time.Millisecond, Timeout: 30 * time.Millisecond, DownAfter: 2, UpAfter: 1}}
}

func runChecker(t *testing.T, cfg CheckerConfig, deps CheckerDeps) *Checker {
	t.Helper()
	c, err := NewChecker(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestCheckerProbeAndMembers(t *testing.T) {
	ua := startSipUA(t, 0)
	port := ua.port()
	src := probeCluster(t, port)
	members := NewStaticHealth("tpa1") // every agent of tpa1 is gone
	c := runChecker(t, fastProbe(), CheckerDeps{Members: members, Source: src})
	eventually(t, 2*time.Second, "the VIP is probed", func() bool {
		st := c.Status()
		return len(st) == 1 && st[0].Probe != nil && !st[0].LastProbe.IsZero()
	})
	if !c.Up("tpa1") {
		t.Fatal("members down but the VIP answers: the cluster must stay up")
	}
	ch := c.Changed()
	ua.stop()
	eventually(t, 2*time.Second, "down once members and probe both fail", func() bool { return !c.Up("tpa1") })
	select {
	case <-ch:
	default:
		t.Fatal("going down did not close Changed")
	}
	// A member coming back beside a silent VIP is not enough: its Asterisk
	// does not answer.
	members.Set("tpa1", true)
	time.Sleep(100 * time.Millisecond) // a few probe rounds: nothing may change
	if c.Up("tpa1") {
		t.Fatal("a live agent beside a silent VIP keeps the cluster up")
	}
	members.Set("tpa1", false)
	// The VIP answering again is.
	startSipUA(t, port)
	eventually(t, 2*time.Second, "up when the VIP answers again", func() bool { return c.Up("tpa1") })
}

func TestCheckerWithoutProbe(t *testing.T) {
	src := probeCluster(t, 5060)
	c := runChecker(t, CheckerConfig{}, CheckerDeps{Source: src})
	if !c.Up("tpa1") {
		t.Fatal("no members and no probe: every cluster is up")
	}
	members := NewStaticHealth("tpa1")
	c = runChecker(t, CheckerConfig{}, CheckerDeps{Source: src, Members: members})
	eventually(t, time.Second, "members alone decide", func() bool { return !c.Up("tpa1") })
}

func TestProbeAnyResponseCounts(t *testing.T) {
	// A UA that answers 404 (Asterisk to an unknown peer) is alive.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			resp := strings.Replace(string(answerOptions(string(buf[:n]))), "200 OK", "404 Not Found", 1)
			conn.WriteToUDPAddrPort([]byte(resp), from)
		}
	}()
	p, err := newProber("127.0.0.1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ok, _ := p.probe(context.Background(), conn.LocalAddr().(*net.UDPAddr).AddrPort())
	if !ok {
		t.Fatal("a 404 is an answer")
	}
	// Nothing listening: no answer within the timeout.
	silent, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	target := silent.LocalAddr().(*net.UDPAddr).AddrPort()
	p2, _ := newProber("", 50*time.Millisecond)
	defer p2.close()
	if ok, _ := p2.probe(context.Background(), target); ok {
		t.Fatal("silence is not an answer")
	}
	silent.Close()
}

func TestSIPOptionsAndParse(t *testing.T) {
	req := string(sipOptions(netip.MustParseAddrPort("[2001:db8::1]:5060"), netip.MustParseAddrPort("[2001:db8::2]:40000"), "abc@pbxtopo", "b1", "t1"))
	for _, want := range []string{"OPTIONS sip:[2001:db8::1]:5060 SIP/2.0\r\n", "Via: SIP/2.0/UDP [2001:db8::2]:40000;branch=z9hG4bKb1;rport\r\n",
		"Call-ID: abc@pbxtopo\r\n", "CSeq: 1 OPTIONS\r\n", "Content-Length: 0\r\n\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %q:\n%s", want, req)
		}
	}
	cases := []struct {
		in     string
		status int
		callID string
		err    string
	}{
		{"SIP/2.0 200 OK\r\nCall-ID: x@y\r\nCSeq: 1 OPTIONS\r\n\r\n", 200, "x@y", ""},
		{"SIP/2.0 404 Not Found\ni: compact@y\n\n", 404, "compact@y", ""},
		{"SIP/2.0 200 OK\r\nCall-ID:\r\n folded@y\r\n\r\n", 200, "folded@y", ""},
		{"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n", 0, "", "does not start with SIP/2.0"},
		{"SIP/2.0 2000 OK\r\nCall-ID: x\r\n\r\n", 0, "", "is not 100-699"},
		{"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n", 0, "", "no Call-ID"},
		{"SIP/2.0 200 OK\r\nbroken header\r\n\r\n", 0, "", "has no colon"},
		{"", 0, "", "does not start"},
	}
	for _, c := range cases {
		r, err := parseSIPResponse([]byte(c.in))
		if c.err != "" {
			if err == nil || !errors.Is(err, ErrSIP) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || r.Status != c.status || r.CallID != c.callID {
			t.Errorf("%q: %+v %v", c.in, r, err)
		}
	}
}

func FuzzSIPResponse(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\nCall-ID: x@y\r\n\r\n"))
	f.Add([]byte("SIP/2.0 404 Not Found\ni: a\n\n"))
	f.Add(answerOptions(string(sipOptions(netip.MustParseAddrPort("127.0.0.1:5060"), netip.MustParseAddrPort("127.0.0.1:1"), "c", "b", "t"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSIPResponse(b)
		if err == nil && (r.Status < 100 || r.Status > 699 || r.CallID == "") {
			t.Fatalf("accepted %q as %+v", b, r)
		}
	})
}
