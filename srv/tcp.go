package srv

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// serveTCP accepts connections until the listener closes. Each connection
// gets one goroutine that answers its queries in order (RFC 7766) and
// ends when the client closes, goes idle, or sends something that is not
// a length-prefixed DNS message.
func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: let some close
			continue
		}
		if !s.trackConn(c, remoteAddr(c)) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer s.untrackConn(c)
	defer c.Close()
	from := remoteAddr(c)
	req := make([]byte, dns.MaxMsgSize)
	out := make([]byte, 2, 4096)
	scratch := make([]byte, 512)
	for {
		c.SetReadDeadline(time.Now().Add(s.idleTimeout()))
		if _, err := io.ReadFull(c, req[:2]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(req))
		if n < 12 {
			return // not a DNS message: nothing sensible to answer
		}
		if _, err := io.ReadFull(c, req[:n]); err != nil {
			return
		}
		s.tcpStats.queries.Add(1)
		c.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if err := s.answerTCP(c, out[:2], req[:n], from, scratch); err != nil {
			return
		}
	}
}

// answerTCP answers one message on a connection.
func (s *Server) answerTCP(w io.Writer, dst, req []byte, from netip.Addr, scratch []byte) error {
	t := s.tab.Load()
	var q query
	var out []byte
	var res result
	if !parseFast(req, &q) {
		ok, drop := parseSlow(req, &q, scratch)
		switch {
		case drop:
			s.tcpStats.results[resDropped].Add(1)
			return nil
		case !ok:
			out, res = t.formErr(dst, req), resFormErr
		}
	}
	if out == nil {
		s.tcpStats.countType(q.qtype)
	}
	if out == nil && (q.qtype == dns.TypeAXFR || q.qtype == dns.TypeIXFR) && q.opcode() == dns.OpcodeQuery {
		return s.transferTCP(w, dst, t, &q, from)
	}
	if out == nil {
		out, res = t.respond(dst, &q, dns.MaxMsgSize)
	}
	s.tcpStats.results[res].Add(1)
	return writeFramed(w, out)
}

// writeFramed writes a message whose first two bytes are room for its
// length.
func writeFramed(w io.Writer, framed []byte) error {
	binary.BigEndian.PutUint16(framed, uint16(len(framed)-2))
	_, err := w.Write(framed)
	return err
}

// remoteAddr is the client's address of a connection.
func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
