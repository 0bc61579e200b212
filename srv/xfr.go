package srv

import (
	"io"
	"net/netip"

	"github.com/miekg/dns"
)

// Zone transfers. AXFR sends the whole zone; IXFR from a secondary that is
// behind gets the whole zone too (RFC 1995 §4 allows it; our zone is small
// and we keep no history), and one that is current gets the SOA alone.
// Both need TCP, an address in dns.allow_transfer, and this node to be the
// site's transfer source.

// xfrRecords is how many records go in one transfer message: well under
// 64 KiB with our record sizes.
const xfrRecords = 100

func (s *Server) transferAllowed(from netip.Addr) bool {
	if !s.set.transfers {
		return false
	}
	for _, p := range s.set.allow {
		if p.Contains(from) {
			return true
		}
	}
	return false
}

// xfrCheck returns the rcode a transfer request gets before any data, or
// -1 when it may proceed.
func (s *Server) xfrCheck(t *table, q *query, from netip.Addr) (int, result) {
	if q.qclass != dns.ClassINET {
		return dns.RcodeRefused, resRefused
	}
	if !equalFoldWire(q.name(), t.origin) {
		return dns.RcodeNotAuth, resRefused
	}
	if !s.transferAllowed(from) {
		// Info, not Debug: a secondary left out of dns.allow_transfer is
		// the usual reason a corporate NSD or BIND stays empty.
		fix := "add the address to dns.allow_transfer"
		if !s.set.transfers {
			fix = "transfer from " + s.cfg.TransferSource + ", the site's dns.transfer_source"
		}
		s.log.Info("dns: zone transfer refused", "from", from.String(), "fix", fix)
		return dns.RcodeRefused, resRefused
	}
	return -1, resAnswer
}

// transferUDP answers AXFR and IXFR over UDP: AXFR is not served there;
// an IXFR from a current secondary gets the SOA; any other gets TC so it
// comes back over TCP.
func (s *Server) transferUDP(dst []byte, t *table, q *query, from netip.Addr) ([]byte, result) {
	if q.qtype == dns.TypeAXFR {
		return t.header(dst, q, 0, dns.RcodeNotImplemented, true), resNotImp
	}
	if rcode, res := s.xfrCheck(t, q, from); rcode >= 0 {
		return t.header(dst, q, 0, rcode, true), res
	}
	if q.hasSerial && !serialLess(q.clientSerial, t.serial) {
		return t.soaOnly(dst, q), resAnswer
	}
	return t.header(dst, q, flagAA|flagTC, dns.RcodeSuccess, true), resTruncated
}

// transferTCP streams a transfer over a connection.
func (s *Server) transferTCP(w io.Writer, dst []byte, t *table, q *query, from netip.Addr) error {
	if rcode, res := s.xfrCheck(t, q, from); rcode >= 0 {
		s.tcpStats.results[res].Add(1)
		return writeFramed(w, t.header(dst, q, 0, rcode, true))
	}
	s.tcpStats.results[resAnswer].Add(1)
	if q.qtype == dns.TypeIXFR && q.hasSerial && !serialLess(q.clientSerial, t.serial) {
		return writeFramed(w, t.soaOnly(dst, q))
	}
	s.xfrs.Add(1)
	name, _, err := dns.UnpackDomainName(q.question, 0)
	if err != nil {
		return err
	}
	soa := *t.zone.SOA
	soa.Serial = t.serial
	rrs := make([]dns.RR, 0, len(t.zone.Records)+2)
	rrs = append(append(append(rrs, &soa), t.zone.Records...), &soa)
	for i := 0; i < len(rrs); i += xfrRecords {
		m := &dns.Msg{Compress: true}
		m.Id, m.Response, m.Authoritative, m.Opcode = q.id, true, true, dns.OpcodeQuery
		if i == 0 {
			m.Question = []dns.Question{{Name: name, Qtype: q.qtype, Qclass: q.qclass}}
		}
		m.Answer = rrs[i:min(i+xfrRecords, len(rrs))]
		b, err := m.PackBuffer(dst[2:cap(dst)])
		if err != nil {
			return err
		}
		framed := append(dst[:2], b...)
		if err := writeFramed(w, framed); err != nil {
			return err
		}
	}
	return nil
}

// soaOnly is the answer to an IXFR from a secondary that is current: the
// zone's SOA alone.
func (t *table) soaOnly(dst []byte, q *query) []byte {
	start := len(dst)
	dst = base(dst, q, flagAA, dns.RcodeSuccess, true)
	dst[start+7] = 1 // ANCOUNT
	dst = append(dst, t.soaRR...)
	return t.addOPT(dst, start, q, 0)
}

func equalFoldWire(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
