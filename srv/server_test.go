package srv

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/pbxtopo/pbxtopo/pbx"
)

func TestAnswers(t *testing.T) {
	s := startServer(t, sampleStore(t), nil, nil)
	addr := s.Addr()
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := ask(t, addr, network, "_sip._udp.tpa1."+zoneName, dns.TypeSRV)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.RecursionAvailable {
				t.Fatalf("flags: %v", r.MsgHdr)
			}
			if got, want := srvTargets(r), []string{"tpa1:5060/10", "tpa2:5060/20", "sfo:5060/30"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("SRV = %v, want %v", got, want)
			}
			if len(r.Extra) != 3 || r.Extra[0].(*dns.A).A.String() != "192.168.0.218" {
				t.Fatalf("additional: %v", r.Extra)
			}
			r = ask(t, addr, network, "_sips._tcp.lon."+zoneName, dns.TypeSRV)
			if got, want := srvTargets(r), []string{"lon:5061/10", "ams:5061/20", "tpa1:5061/30"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("SIPS SRV = %v, want %v", got, want)
			}
			r = ask(t, addr, network, "tpa2."+zoneName, dns.TypeNAPTR)
			if len(r.Answer) != 3 {
				t.Fatalf("NAPTR: %v", r.Answer)
			}
			n := r.Answer[0].(*dns.NAPTR)
			if n.Service != "SIP+D2U" || n.Flags != "S" || n.Replacement != "_sip._udp.tpa2."+zoneName {
				t.Fatalf("NAPTR: %v", n)
			}
			if len(r.Extra) == 0 {
				t.Fatalf("NAPTR without the SRV records in additional")
			}
			r = ask(t, addr, network, "sfo."+zoneName, dns.TypeA)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.168.100.218" || r.Answer[0].Header().Ttl != 30 {
				t.Fatalf("A: %v", r.Answer)
			}
			r = ask(t, addr, network, zoneName, dns.TypeSOA)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != s.Stats().Serial {
				t.Fatalf("SOA: %v", r.Answer)
			}
			r = ask(t, addr, network, zoneName, dns.TypeNS)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.NS).Ns != "ns1."+zoneName || len(r.Extra) != 1 {
				t.Fatalf("NS: %v + %v", r.Answer, r.Extra)
			}
		})
	}
}

func TestNegativeAndRefused(t *testing.T) {
	s := startServer(t, sampleStore(t), nil, nil)
	addr := s.Addr()
	cases := []struct {
		name  string
		qtype uint16
		rcode int
		aa    bool
		soa   bool
	}{
		{"nope." + zoneName, dns.TypeA, dns.RcodeNameError, true, true},
		{"_sip._udp.nope." + zoneName, dns.TypeSRV, dns.RcodeNameError, true, true},
		{"tpa1." + zoneName, dns.TypeAAAA, dns.RcodeSuccess, true, true},     // exists, no such type
		{"_udp.tpa1." + zoneName, dns.TypeSRV, dns.RcodeSuccess, true, true}, // empty non-terminal
		{"www.example.com.", dns.TypeA, dns.RcodeRefused, false, false},
		{"example.net.", dns.TypeSOA, dns.RcodeRefused, false, false},
		{"xvoice.example.net.", dns.TypeA, dns.RcodeRefused, false, false},
	}
	for _, c := range cases {
		r := ask(t, addr, "udp", c.name, c.qtype)
		if r.Rcode != c.rcode || r.Authoritative != c.aa || len(r.Answer) != 0 {
			t.Errorf("%s %s: rcode %s aa %v answer %v", c.name, dns.TypeToString[c.qtype], dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
		}
		if hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA; hasSOA != c.soa {
			t.Errorf("%s: authority %v", c.name, r.Ns)
		}
	}
}

func TestCaseEDNSAndAny(t *testing.T) {
	s := startServer(t, sampleStore(t), nil, nil)
	addr := s.Addr()
	r := ask(t, addr, "udp", "_SIP._Udp.TPA1.Voice.Example.NET.", dns.TypeSRV)
	if len(r.Answer) != 3 || r.Question[0].Name != "_SIP._Udp.TPA1.Voice.Example.NET." {
		t.Fatalf("mixed case: %v", r)
	}
	r = ask(t, addr, "udp", "tpa1."+zoneName, dns.TypeA, func(m *dns.Msg) { m.SetEdns0(4096, true) })
	opt := r.IsEdns0()
	if opt == nil || opt.UDPSize() != 1232 || !opt.Do() || opt.Version() != 0 {
		t.Fatalf("OPT: %v", opt)
	}
	r = ask(t, addr, "udp", "tpa1."+zoneName, dns.TypeA, func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
	})
	if r.Rcode != dns.RcodeBadVers {
		t.Fatalf("EDNS version 1: %s", dns.RcodeToString[r.Rcode])
	}
	r = ask(t, addr, "udp", "tpa1."+zoneName, dns.TypeANY)
	if len(r.Answer) != 3 || r.Answer[0].Header().Rrtype != dns.TypeNAPTR || r.Answer[2].Header().Rrtype != dns.TypeNAPTR {
		t.Fatalf("ANY (RFC 8482: one RRset, the NAPTR): %v", r.Answer)
	}
	r = ask(t, addr, "udp", "tpa1."+zoneName, dns.TypeA, func(m *dns.Msg) { m.RecursionDesired = true })
	if !r.RecursionDesired || r.RecursionAvailable {
		t.Fatalf("RD must be copied, RA never set: %v", r.MsgHdr)
	}
	r = ask(t, addr, "udp", "tpa1."+zoneName, dns.TypeA, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS })
	if r.Rcode != dns.RcodeRefused {
		t.Fatalf("CHAOS: %s", dns.RcodeToString[r.Rcode])
	}
	r = ask(t, addr, "udp", zoneName, dns.TypeSOA, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate })
	if r.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("UPDATE: %s", dns.RcodeToString[r.Rcode])
	}
	r = ask(t, addr, "udp", zoneName, dns.TypeAXFR)
	if r.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("AXFR over UDP: %s", dns.RcodeToString[r.Rcode])
	}
}

// bigEnterprise has a cluster whose failover list is long enough that its
// SRV answer needs more than 512 bytes.
func bigEnterprise(n int) []pbx.Fields {
	var rows []pbx.Fields
	var all []string
	for i := 0; i < n; i++ {
		all = append(all, fmt.Sprintf("c%02d", i))
	}
	for i := 0; i < n; i++ {
		rows = append(rows, pbx.Fields{"name": all[i], "site": "s", "voice_vip": fmt.Sprintf("10.0.%d.1", i),
			"failover": strings.Join(all[i+1:], ",")})
	}
	return rows
}

func TestTruncation(t *testing.T) {
	st := newStore(t)
	putClusters(t, st, bigEnterprise(25)...)
	s := startServer(t, st, nil, nil)
	addr := s.Addr()
	name := "_sip._udp.c00." + zoneName
	tcp := ask(t, addr, "tcp", name, dns.TypeSRV)
	if len(tcp.Answer) != 25 || len(tcp.Extra) != 25 || tcp.Truncated {
		t.Fatalf("TCP: %d answers, %d additional, tc %v", len(tcp.Answer), len(tcp.Extra), tcp.Truncated)
	}
	udp := ask(t, addr, "udp", name, dns.TypeSRV)
	if !udp.Truncated || len(udp.Answer) != 0 {
		t.Fatalf("UDP without EDNS: tc %v, %d answers", udp.Truncated, len(udp.Answer))
	}
	edns := ask(t, addr, "udp", name, dns.TypeSRV, func(m *dns.Msg) { m.SetEdns0(4096, false) })
	edns.Compress = true
	b, _ := edns.Pack()
	if edns.Truncated || len(edns.Answer) != 25 || len(edns.Extra) >= 26 || len(b) > 1232 {
		t.Fatalf("EDNS: tc %v, %d answers, %d additional, %d bytes", edns.Truncated, len(edns.Answer), len(edns.Extra), len(b))
	}
	// A small answer keeps its additional records.
	small := ask(t, addr, "udp", "_sip._udp.c23."+zoneName, dns.TypeSRV)
	if small.Truncated || len(small.Answer) != 2 || len(small.Extra) != 2 {
		t.Fatalf("small: %v", small)
	}
}

func TestHealthDrivesAnswersAndSerial(t *testing.T) {
	st := sampleStore(t)
	h := NewStaticHealth()
	s := startServer(t, st, h, nil)
	addr := s.Addr()
	serial0 := s.Stats().Serial
	name := "_sip._udp.tpa1." + zoneName
	h.Set("tpa2", false)
	eventually(t, 5e9, "tpa2 leaves the answer", func() bool {
		return reflect.DeepEqual(srvTargets(ask(t, addr, "udp", name, dns.TypeSRV)), []string{"tpa1:5060/10", "sfo:5060/30"})
	})
	serial1 := s.Stats().Serial
	if !serialLess(serial0, serial1) {
		t.Fatalf("serial %d → %d: must rise", serial0, serial1)
	}
	if z, _ := s.Zone(); !reflect.DeepEqual(z.Down, []string{"tpa2"}) {
		t.Fatalf("down = %v", z.Down)
	}
	// Every cluster of the list down: the whole list stays.
	h.Set("tpa1", false)
	h.Set("sfo", false)
	eventually(t, 5e9, "full list when all are down", func() bool {
		return len(srvTargets(ask(t, addr, "udp", name, dns.TypeSRV))) == 3
	})
	h.Set("tpa1", true)
	h.Set("tpa2", true)
	h.Set("sfo", true)
	eventually(t, 5e9, "all back", func() bool { z, _ := s.Zone(); return len(z.Down) == 0 })
	serial2 := s.Stats().Serial
	// A change that does not touch the answers keeps the serial.
	f := sampleClusters(t)[0]
	f["description"] = "new words"
	putClusters(t, st, f)
	before := s.Stats().Rebuilds
	h.Set("nosuchcluster", false) // changes health, not answers
	f["voice_vip"] = "192.168.0.219"
	putClusters(t, st, f)
	eventually(t, 5e9, "new VIP served", func() bool {
		r := ask(t, addr, "udp", "tpa1."+zoneName, dns.TypeA)
		return len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == "192.168.0.219"
	})
	if got := s.Stats(); got.Rebuilds != before+1 || got.Serial != nextSerial(serial2, s.now()) && !serialLess(serial2, got.Serial) {
		t.Fatalf("rebuilds %d → %d, serial %d → %d: one change of the answers, one new serial", before, got.Rebuilds, serial2, got.Serial)
	}
}

func TestSerialSurvivesRestart(t *testing.T) {
	st := sampleStore(t)
	s1 := startServer(t, st, nil, nil)
	serial := s1.Stats().Serial
	s1.Close()
	s2 := startServer(t, st, nil, nil)
	if got := s2.Stats().Serial; got != serial {
		t.Fatalf("restart with the same answers: serial %d → %d", serial, got)
	}
	s2.Close()
	// Answers differ at the next start (a cluster is down): the serial
	// rises even though the clock would give a lower one.
	kept := serial + 1_000_000
	st.WriteLocal(context.Background(), "test", nil, map[string][]byte{serialKey(zoneName): serialRecord{serial: kept, ok: true}.encode()})
	s3 := startServer(t, st, NewStaticHealth("tpa2"), nil)
	if got := s3.Stats().Serial; got != kept+1 {
		t.Fatalf("serial after restart with new answers = %d, want %d", got, kept+1)
	}
}

func TestIPv6(t *testing.T) {
	st := sampleStore(t)
	putClusters(t, st, pbx.Fields{"name": "v6", "site": "lon", "voice_vip": "2001:db8::218", "sip_port": "5070", "failover": "lon"})
	if c, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		c.Close()
	}
	s := startServer(t, st, nil, func(c *Config) { c.Addr = "[::1]:0"; c.Nameservers = []string{"ns1=::1"} })
	addr := s.Addr()
	if !addr.Addr().Is6() {
		t.Fatalf("listening on %v", addr)
	}
	r := ask(t, addr, "udp", "_sip._udp.v6."+zoneName, dns.TypeSRV)
	if got := srvTargets(r); !reflect.DeepEqual(got, []string{"v6:5070/10", "lon:5060/20"}) {
		t.Fatalf("SRV: %v", got)
	}
	if aaaa, ok := r.Extra[0].(*dns.AAAA); !ok || aaaa.AAAA.String() != "2001:db8::218" {
		t.Fatalf("additional: %v", r.Extra)
	}
	r = ask(t, addr, "tcp", zoneName, dns.TypeNS)
	if len(r.Extra) != 1 || r.Extra[0].(*dns.AAAA).AAAA.String() != "::1" {
		t.Fatalf("NS glue: %v", r.Extra)
	}
}
