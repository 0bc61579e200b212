package srv

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(RRLConfig{Rate: 10, Burst: 5, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, func() time.Time { return now })
	a := netip.MustParseAddr("192.0.2.1")
	neighbour := netip.MustParseAddr("192.0.2.200") // same /24: same bucket
	var got []verdict
	for i := 0; i < 9; i++ {
		who := a
		if i%2 == 1 {
			who = neighbour
		}
		got = append(got, l.check(who))
	}
	want := []verdict{rrlAllow, rrlAllow, rrlAllow, rrlAllow, rrlAllow, rrlDrop, rrlSlip, rrlDrop, rrlSlip}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
	}
	if v := l.check(netip.MustParseAddr("198.51.100.1")); v != rrlAllow {
		t.Fatal("another network has its own bucket")
	}
	if v := l.check(netip.MustParseAddr("2001:db8:0:ff::1")); v != rrlAllow {
		t.Fatal("IPv6 has its own bucket")
	}
	now = now.Add(200 * time.Millisecond)                      // 2 tokens at 10/s
	first, second, third := l.check(a), l.check(a), l.check(a) // each takes a token
	if first != rrlAllow || second != rrlAllow || third == rrlAllow {
		t.Fatal("tokens refill at the rate")
	}
	if newLimiter(RRLConfig{}, time.Now) != nil {
		t.Fatal("rate 0 turns RRL off")
	}
}

func TestRRLOverUDP(t *testing.T) {
	frozen := time.Now()
	st := sampleStore(t)
	cfg := testConfig()
	cfg.RRL = RRLConfig{Rate: 1, Burst: 3, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}
	s, err := New(cfg, Deps{Source: st, Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	answered, truncated := 0, 0
	m := new(dns.Msg)
	m.SetQuestion("tpa1."+zoneName, dns.TypeA)
	q, _ := m.Pack()
	buf := make([]byte, 1500)
	for i := 0; i < 11; i++ {
		conn.Write(q)
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			continue // dropped
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if r.Truncated {
			truncated++
		} else {
			answered++
		}
	}
	if answered != 3 || truncated != 4 {
		t.Fatalf("answered %d, truncated %d; want 3 then every second of 8 slipped", answered, truncated)
	}
	if st := s.Stats(); st.RRLDropped != 4 || st.RRLSlipped != 4 {
		t.Fatalf("counters %+v", st)
	}
}
