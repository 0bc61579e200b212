package srv

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// axfr transfers the zone with miekg/dns's client.
func axfr(t *testing.T, addr netip.AddrPort, qtype uint16, serial uint32) ([]dns.RR, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(zoneName, qtype)
	if qtype == dns.TypeIXFR {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: zoneName, Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Ns: ".", Mbox: ".", Serial: serial}}
	}
	tr := &dns.Transfer{DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second}
	env, err := tr.In(m, addr.String())
	if err != nil {
		return nil, err
	}
	var rrs []dns.RR
	for e := range env {
		if e.Error != nil {
			return rrs, e.Error
		}
		rrs = append(rrs, e.RR...)
	}
	return rrs, nil
}

func TestTransfers(t *testing.T) {
	st := sampleStore(t)
	s := startServer(t, st, nil, func(c *Config) { c.AllowTransfer = []string{"127.0.0.0/8"} })
	addr := s.Addr()
	z, serial := s.Zone()
	rrs, err := axfr(t, addr, dns.TypeAXFR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rrs) != len(z.Records)+2 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].(*dns.SOA).Serial != serial {
		t.Fatalf("AXFR: %d records (zone has %d + 2 SOA), first %v", len(rrs), len(z.Records), rrs[0])
	}
	for i, rr := range z.Records {
		if !dns.IsDuplicate(rr, rrs[i+1]) {
			t.Fatalf("record %d: %v, want %v", i, rrs[i+1], rr)
		}
	}
	// IXFR from a secondary that is behind: the whole zone.
	rrs, err = axfr(t, addr, dns.TypeIXFR, serial-1)
	if err != nil || len(rrs) != len(z.Records)+2 {
		t.Fatalf("IXFR behind: %d records, %v", len(rrs), err)
	}
	// IXFR from a current secondary: the SOA alone.
	r := ask(t, addr, "tcp", zoneName, dns.TypeIXFR, func(m *dns.Msg) {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: zoneName, Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Ns: ".", Mbox: ".", Serial: serial}}
	})
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != serial {
		t.Fatalf("IXFR current over TCP: %v", r.Answer)
	}
	// Over UDP: current gets the SOA, behind gets TC.
	r = ask(t, addr, "udp", zoneName, dns.TypeIXFR, func(m *dns.Msg) {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: zoneName, Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Ns: ".", Mbox: ".", Serial: serial}}
	})
	if len(r.Answer) != 1 || r.Truncated {
		t.Fatalf("IXFR current over UDP: %v", r)
	}
	r = ask(t, addr, "udp", zoneName, dns.TypeIXFR, func(m *dns.Msg) {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: zoneName, Rrtype: dns.TypeSOA, Class: dns.ClassINET}, Ns: ".", Mbox: ".", Serial: serial - 5}}
	})
	if !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("IXFR behind over UDP: %v", r)
	}
	if got := s.Stats().Transfers; got != 2 {
		t.Fatalf("transfers = %d, want 2", got)
	}
	// Not the apex: not a zone we have.
	r = ask(t, addr, "tcp", "tpa1."+zoneName, dns.TypeAXFR)
	if r.Rcode != dns.RcodeNotAuth {
		t.Fatalf("AXFR of tpa1: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestTransferRefused(t *testing.T) {
	st := sampleStore(t)
	for name, edit := range map[string]func(*Config){
		"not in allow list": func(c *Config) { c.AllowTransfer = []string{"192.0.2.0/24", "2001:db8::1"} },
		"empty allow list":  nil,
		"other node serves transfers": func(c *Config) {
			c.AllowTransfer, c.Node, c.TransferSource = []string{"127.0.0.1"}, "tpa1-2", "tpa1-1"
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, st, nil, edit)
			r := ask(t, s.Addr(), "tcp", zoneName, dns.TypeAXFR)
			if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
				t.Fatalf("rcode %s, %d records", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			s.Close()
		})
	}
}

// secondary is a UDP endpoint that answers NOTIFY with rcode (or not at
// all when rcode < 0) and records what came, when and from where.
type secondary struct {
	conn     *net.UDPConn
	mu       sync.Mutex
	serials  []uint32
	times    []time.Time
	from     []netip.Addr
	answerRc int
}

func startSecondary(t *testing.T) *secondary {
	return startSecondaryAt(t, "127.0.0.1", dns.RcodeSuccess)
}

func startSecondaryAt(t *testing.T, ip string, rcode int) *secondary {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	sec := &secondary{conn: conn, answerRc: rcode}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var m dns.Msg
			if m.Unpack(buf[:n]) != nil || m.Opcode != dns.OpcodeNotify {
				continue
			}
			sec.mu.Lock()
			if len(m.Answer) == 1 {
				sec.serials = append(sec.serials, m.Answer[0].(*dns.SOA).Serial)
				sec.times = append(sec.times, time.Now())
				sec.from = append(sec.from, from.Addr().Unmap())
			}
			sec.mu.Unlock()
			if sec.answerRc < 0 {
				continue
			}
			r := new(dns.Msg)
			r.SetRcode(&m, sec.answerRc)
			b, _ := r.Pack()
			conn.WriteToUDPAddrPort(b, from)
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return sec
}

func (s *secondary) addr() string { return s.conn.LocalAddr().String() }

func (s *secondary) got() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.serials...)
}

// arrivals returns when each NOTIFY came and from which address.
func (s *secondary) arrivals() ([]time.Time, []netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...), append([]netip.Addr(nil), s.from...)
}

func TestNotify(t *testing.T) {
	sec := startSecondary(t)
	h := NewStaticHealth()
	s := startServer(t, sampleStore(t), h, func(c *Config) { c.Notify = []string{sec.conn.LocalAddr().String()} })
	_, serial := s.Zone()
	eventually(t, 5*time.Second, "NOTIFY at start", func() bool { g := sec.got(); return len(g) == 1 && g[0] == serial })
	h.Set("sfo", false)
	eventually(t, 5*time.Second, "NOTIFY with the new serial", func() bool {
		g := sec.got()
		return len(g) == 2 && serialLess(serial, g[1]) && g[1] == s.Stats().Serial
	})
	if st := s.Stats(); st.NotifySent != 2 || st.NotifyFails != 0 {
		t.Fatalf("notify counters: %+v", st)
	}
}
