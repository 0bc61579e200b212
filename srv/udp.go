package srv

import (
	"errors"
	"net"
	"net/netip"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// maxRequest is the largest request read over UDP: more than any query
// needs; a longer datagram is cut and then fails to parse.
const maxRequest = 4096

// udpBatch is how many datagrams one system call moves each way.
const udpBatch = 32

// batchConn reads and writes datagrams in batches (recvmmsg and sendmmsg
// on Linux; one at a time elsewhere): *ipv4.PacketConn and
// *ipv6.PacketConn are.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// serveUDP answers datagrams until the socket closes. Each worker reads a
// batch of the datagrams waiting, answers them, and sends the answers in
// one batch: under load one system call moves many datagrams each way.
func (s *Server) serveUDP(c *counters) {
	defer s.wg.Done()
	var pc batchConn = ipv4.NewPacketConn(s.udp)
	if a := s.udp.LocalAddr().(*net.UDPAddr); a.IP.To4() == nil {
		pc = ipv6.NewPacketConn(s.udp)
	}
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	reqs := make([][]byte, udpBatch)
	resps := make([][]byte, udpBatch)
	for i := range in {
		reqs[i] = make([]byte, maxRequest)
		resps[i] = make([]byte, 0, 4096)
		in[i].Buffers = [][]byte{reqs[i]}
		out[i].Buffers = [][]byte{nil}
	}
	scratch := make([]byte, 512)
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (e.g. ICMP unreachable feedback)
		}
		k := 0
		for i := 0; i < n; i++ {
			from, ok := in[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			c.queries.Add(1)
			resp := s.answerUDP(resps[i][:0], reqs[i][:in[i].N], from.AddrPort().Addr().Unmap(), scratch, c)
			if resp != nil {
				out[k].Buffers[0], out[k].Addr = resp, from
				k++
			}
		}
		for sent := 0; sent < k; {
			m, err := pc.WriteBatch(out[sent:k], 0)
			switch {
			case err != nil:
				sent += m + 1 // this answer cannot go (its client is gone): UDP drops it
			case m == 0:
				sent = k
			default:
				sent += m
			}
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
