// Package sipstub answers SIP OPTIONS with 200 OK on a UDP port, the way
// Asterisk answers a health probe: the stand-in for each cluster's
// Asterisk in the demo (`pbxtopo demo`), and a voice VIP for benchmarks
// and tests. It answers every request, echoing the headers a client
// matches its answer on (RFC 3261 §8.2.6.2), and nothing else.
package sipstub

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Responder answers SIP requests on one UDP socket until closed.
type Responder struct {
	conn     *net.UDPConn
	answered atomic.Uint64
	done     chan struct{}
}

// Listen binds addr (host:port; port 0 picks one) and starts answering.
func Listen(addr string) (*Responder, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	r := &Responder{conn: conn, done: make(chan struct{})}
	go r.serve()
	return r, nil
}

// Addr is the address answered on.
func (r *Responder) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Answered counts the requests answered.
func (r *Responder) Answered() uint64 { return r.answered.Load() }

// Close stops answering and waits for the reader.
func (r *Responder) Close() error {
	err := r.conn.Close()
	<-r.done
	return err
}

// Done is closed when the responder has stopped.
func (r *Responder) Done() <-chan struct{} { return r.done }

func (r *Responder) serve() {
	defer close(r.done)
	buf := make([]byte, 8192)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp := Answer(buf[:n]); resp != nil {
			r.conn.WriteToUDPAddrPort(resp, from)
			r.answered.Add(1)
		}
	}
}

// Answer returns the 200 OK to a SIP request, or nil when req is not one
// (a response, or not SIP).
func Answer(req []byte) []byte {
	text := strings.ReplaceAll(string(req), "\r\n", "\n")
	head, _, _ := strings.Cut(text, "\n\n")
	lines := strings.Split(head, "\n")
	if f := strings.Fields(lines[0]); len(f) != 3 || f[2] != "SIP/2.0" {
		return nil
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
			b.WriteString(l + "\r\n")
		}
	}
	b.WriteString("Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\nUser-Agent: pbxtopo stand-in Asterisk\r\nContent-Length: 0\r\n\r\n")
	return []byte(b.String())
}
