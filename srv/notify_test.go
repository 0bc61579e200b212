package srv

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestNotifyLeavesFromDNSAddr: NOTIFY leaves from the address of
// dns_addr, which secondaries know as their primary (allow-notify), not
// from whatever address the kernel picks for the route (127.0.0.1 here).
func TestNotifyLeavesFromDNSAddr(t *testing.T) {
	sec := startSecondaryAt(t, "127.0.0.12", dns.RcodeSuccess)
	s := startServer(t, sampleStore(t), nil, func(c *Config) {
		c.Addr = "127.0.0.11:0"
		c.Notify = []string{sec.addr()}
	})
	_, serial := s.Zone()
	eventually(t, 5*time.Second, "NOTIFY at start", func() bool { g := sec.got(); return len(g) == 1 && g[0] == serial })
	if _, from := sec.arrivals(); from[0] != netip.MustParseAddr("127.0.0.11") {
		t.Fatalf("NOTIFY came from %v, want dns_addr's 127.0.0.11", from[0])
	}
}

// TestNotifyRetriesAreSpaced: a secondary that refuses gets the retries
// notifyRetry apart, not all within a few milliseconds.
func TestNotifyRetriesAreSpaced(t *testing.T) {
	sec := startSecondaryAt(t, "127.0.0.1", dns.RcodeRefused)
	s := newTestServer(t, sampleStore(t), nil, func(c *Config) { c.Notify = []string{sec.addr()} })
	s.notifyRetry = 100 * time.Millisecond
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "every try", func() bool { return len(sec.got()) == notifyTries })
	times, _ := sec.arrivals()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 90*time.Millisecond {
			t.Errorf("try %d came %v after try %d: want about %v", i+1, gap, i, 100*time.Millisecond)
		}
	}
	eventually(t, 5*time.Second, "the failure counted", func() bool { return s.Stats().NotifyFails == 1 })
}

// TestSilentNotifyTargetDelaysNobody: the first secondary of dns.notify
// never answers; the second still hears of every new serial at once.
func TestSilentNotifyTargetDelaysNobody(t *testing.T) {
	silent := startSecondaryAt(t, "127.0.0.1", -1)
	sec := startSecondary(t)
	h := NewStaticHealth()
	startServer(t, sampleStore(t), h, func(c *Config) { c.Notify = []string{silent.addr(), sec.addr()} })
	eventually(t, 5*time.Second, "NOTIFY at start", func() bool { return len(sec.got()) == 1 })
	start := time.Now()
	h.Set("sfo", false)
	eventually(t, 5*time.Second, "NOTIFY of the new serial", func() bool { return len(sec.got()) == 2 })
	times, _ := sec.arrivals()
	if d := times[1].Sub(start); d > 500*time.Millisecond {
		t.Fatalf("the second secondary heard of the change %v after it: the silent first one delayed it", d)
	}
	if g := silent.got(); len(g) == 0 {
		t.Fatal("the silent secondary got nothing")
	}
}
