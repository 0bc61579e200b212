package srv

import (
	"errors"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// maxRequest is the largest request read over UDP: more than any query
// needs; a longer datagram is cut and then fails to parse.
const maxRequest = 4096

// serveUDP answers datagrams until the socket closes. Several workers read
// the same socket: while one waits in a system call, another answers.
func (s *Server) serveUDP(c *counters) {
	defer s.wg.Done()
	req := make([]byte, maxRequest)
	resp := make([]byte, 0, 4096)
	scratch := make([]byte, 512)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(req)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (e.g. ICMP unreachable feedback)
		}
		c.queries.Add(1)
		out := s.answerUDP(resp[:0], req[:n], from.Addr().Unmap(), scratch, c)
		if out != nil {
			s.udp.WriteToUDPAddrPort(out, from)
		}
	}
}

// answerUDP returns the answer to one datagram, or nil for none.
func (s *Server) answerUDP(dst, req []byte, from netip.Addr, scratch []byte, c *counters) []byte {
	t := s.tab.Load()
	var q query
	if !parseFast(req, &q) {
		ok, drop := parseSlow(req, &q, scratch)
		if drop {
			c.results[resDropped].Add(1)
			return nil
		}
		if !ok {
			return s.limit(t.formErr(dst, req), resFormErr, &q, t, from, c)
		}
	}
	c.countType(q.qtype)
	if q.qtype == dns.TypeAXFR || q.qtype == dns.TypeIXFR {
		out, res := s.transferUDP(dst, t, &q, from)
		return s.limit(out, res, &q, t, from, c)
	}
	limit := 512
	if q.edns {
		limit = min(max(int(q.udpSize), 512), s.cfg.MaxUDPSize)
	}
	out, res := t.respond(dst, &q, limit)
	return s.limit(out, res, &q, t, from, c)
}

// limit applies response rate limiting to an answer and counts it.
func (s *Server) limit(out []byte, res result, q *query, t *table, from netip.Addr, c *counters) []byte {
	if s.rrl != nil {
		switch s.rrl.check(from) {
		case rrlDrop:
			c.rrlDropped.Add(1)
			c.results[resDropped].Add(1)
			return nil
		case rrlSlip:
			c.rrlSlipped.Add(1)
			if q.question != nil {
				out, res = t.header(out[:0], q, flagTC, dns.RcodeSuccess, true), resTruncated
			}
		}
	}
	c.results[res].Add(1)
	return out
}
