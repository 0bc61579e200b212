package srv

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dialFrom opens a TCP connection to the server from a local address.
func dialFrom(t *testing.T, s *Server, local string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	return d.Dial("tcp", s.Addr().String())
}

// TestIdleConnectionsCannotStarveSecondaries: 300 idle TCP connections
// from one address used to fill the 256 slots, so an allowed secondary's
// AXFR was cut. Now one address holds at most tcp_max_conns_per_source
// connections, and addresses outside dns.allow_transfer leave a quarter of
// the slots to the secondaries.
func TestIdleConnectionsCannotStarveSecondaries(t *testing.T) {
	s := startServer(t, sampleStore(t), nil, func(c *Config) { c.AllowTransfer = []string{"127.0.0.2"} })
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < 300; i++ {
		c, err := dialFrom(t, s, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The server closes every connection over the per-source limit at once.
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			open++
		}
	}
	if want := s.cfg.TCPMaxConnsPerSource; open != want {
		t.Errorf("%d idle connections from one address stay open, want %d (dns.tcp_max_conns_per_source)", open, want)
	}
	// Another client and an allowed secondary are still served.
	for _, from := range []string{"127.0.0.3", "127.0.0.2"} {
		c, err := dialFrom(t, s, from)
		if err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		m.SetQuestion(zoneName, dns.TypeAXFR)
		tr := &dns.Transfer{Conn: &dns.Conn{Conn: c}}
		env, err := tr.In(m, "")
		if err != nil {
			t.Fatalf("AXFR from %s: %v", from, err)
		}
		e := <-env
		if from == "127.0.0.2" && (e == nil || e.Error != nil || len(e.RR) < 2) {
			t.Errorf("AXFR from the allowed secondary %s: %+v", from, e)
		}
		if from == "127.0.0.3" && (e == nil || e.Error == nil) {
			t.Errorf("AXFR from %s, not allowed: %+v, want REFUSED", from, e)
		}
		c.Close()
	}
}

// TestReserveForSecondaries: many addresses, each under its own limit,
// together leave a quarter of the slots to dns.allow_transfer.
func TestReserveForSecondaries(t *testing.T) {
	s := startServer(t, sampleStore(t), nil, func(c *Config) {
		c.AllowTransfer = []string{"127.0.1.0/24"}
		c.TCPMaxConns, c.TCPMaxConnsPerSource = 16, 2
	})
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < 10; i++ { // 20 connections from 10 addresses
		for j := 0; j < 2; j++ {
			c, err := dialFrom(t, s, "127.0.0."+itoa(10+i))
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
	}
	eventually(t, 2*time.Second, "others hold 12 of 16 slots", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 12
	})
	for i := 0; i < 4; i++ {
		c, err := dialFrom(t, s, "127.0.1."+itoa(1+i/2))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		m := new(dns.Msg)
		m.SetQuestion(zoneName, dns.TypeSOA)
		dc := &dns.Conn{Conn: c}
		if err := dc.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if r, err := dc.ReadMsg(); err != nil || len(r.Answer) != 1 {
			t.Fatalf("secondary connection %d: %v %v", i, r, err)
		}
	}
}

// TestBusyServerClosesIdleConnectionsSooner: past half of its slots, the
// server gives idle connections a second, not dns.tcp_idle_timeout.
func TestBusyServerClosesIdleConnectionsSooner(t *testing.T) {
	s := startServer(t, sampleStore(t), nil, func(c *Config) {
		c.TCPMaxConns, c.TCPMaxConnsPerSource, c.TCPIdleTimeout = 16, 16, time.Minute
	})
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	start := time.Now()
	for i := 0; i < 9; i++ {
		c, err := dialFrom(t, s, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("an idle connection of a busy server: %v, want EOF within a few seconds", err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("idle connections closed after %v", d)
	}
}
