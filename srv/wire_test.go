package srv

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rrsets counts the records of each RRset (owner, type) of a section.
func rrsets(rrs []dns.RR) map[setKey]int {
	out := map[setKey]int{}
	for _, rr := range rrs {
		out[setKey{dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype}]++
	}
	return out
}

// TestTruncationKeepsRRsetsWhole: an answer cut to fit a size limit drops
// whole RRsets from the additional section, never part of one (RFC 2181
// §9): the NAPTR of tpa1 without EDNS used to carry 2 of the 3 SRV
// records of _sip._tcp.tpa1.
func TestTruncationKeepsRRsetsWhole(t *testing.T) {
	st := sampleStore(t)
	putClusters(t, st, bigEnterprise(25)...)
	s := startServer(t, st, nil, nil)
	addr := s.Addr()
	z, _ := s.Zone()
	var questions []dns.Question
	seen := map[setKey]bool{}
	for _, rr := range z.Records {
		k := setKey{rr.Header().Name, rr.Header().Rrtype}
		if !seen[k] {
			seen[k] = true
			questions = append(questions, dns.Question{Name: k.name, Qtype: k.t, Qclass: dns.ClassINET})
		}
	}
	checked := 0
	for _, q := range questions {
		full := rrsets(ask(t, addr, "tcp", q.Name, q.Qtype).Extra)
		for _, size := range []uint16{0, 512, 700, 1232} {
			r := ask(t, addr, "udp", q.Name, q.Qtype, func(m *dns.Msg) {
				if size > 0 {
					m.SetEdns0(size, false)
				}
			})
			for k, n := range rrsets(r.Extra) {
				if k.t == dns.TypeOPT {
					continue
				}
				if n != full[k] {
					t.Errorf("%s %s at %d bytes: additional has %d of the %d records of %s %s",
						q.Name, dns.TypeToString[q.Qtype], size, n, full[k], k.name, dns.TypeToString[k.t])
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no additional section checked")
	}
}

// rawQuery sends bytes over UDP and returns the answer, or nil on timeout.
func rawQuery(t *testing.T, s *Server, req []byte) *dns.Msg {
	t.Helper()
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(req)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	var m dns.Msg
	if err := m.Unpack(buf[:n]); err != nil {
		// The header alone is enough to read the rcode.
		if n < 12 {
			t.Fatalf("answer of %d bytes", n)
		}
		m.Id = binary.BigEndian.Uint16(buf)
		m.Rcode = int(buf[3] & 0xF)
	}
	return &m
}

// TestMalformedQuestionAndOPT: a question cut after its name, or cut in
// its type, is a format error, not a name outside the zone; an OPT record
// whose owner is not the root is a format error (RFC 6891 §6.1.2).
func TestMalformedQuestionAndOPT(t *testing.T) {
	s := startServer(t, sampleStore(t), nil, nil)
	q := new(dns.Msg)
	q.SetQuestion("tpa1."+zoneName, dns.TypeA)
	whole, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{4, 2, 1} {
		r := rawQuery(t, s, whole[:len(whole)-cut])
		if r == nil || r.Rcode != dns.RcodeFormatError {
			t.Errorf("question cut %d bytes before its end: %v, want FORMERR", cut, r)
		}
	}
	q.SetEdns0(1232, false)
	q.IsEdns0().Hdr.Name = "tpa1." + zoneName
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if r := rawQuery(t, s, b); r == nil || r.Rcode != dns.RcodeFormatError {
		t.Errorf("OPT owned by tpa1.%s: %v, want FORMERR", zoneName, r)
	}
	// The same query with a proper OPT is answered.
	q.IsEdns0().Hdr.Name = "."
	b, _ = q.Pack()
	if r := rawQuery(t, s, b); r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("proper query: %v", r)
	}
}
