package srv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// prober sends SIP OPTIONS from one UDP socket and matches answers to
// requests by Call-ID.
type prober struct {
	conn    *net.UDPConn
	local   netip.AddrPort
	timeout time.Duration

	mu      sync.Mutex
	waiting map[string]chan struct{} // Call-ID → closed when answered
	done    chan struct{}
}

func newProber(source string, timeout time.Duration) (*prober, error) {
	la := &net.UDPAddr{}
	if source != "" {
		la.IP = net.ParseIP(source)
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, err
	}
	p := &prober{conn: conn, local: conn.LocalAddr().(*net.UDPAddr).AddrPort(), timeout: timeout,
		waiting: map[string]chan struct{}{}, done: make(chan struct{})}
	go p.read()
	return p, nil
}

// close stops the reader and waits for it.
func (p *prober) close() {
	p.conn.Close()
	<-p.done
}

func (p *prober) read() {
	defer close(p.done)
	buf := make([]byte, 8192)
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable from an earlier probe
		}
		r, err := parseSIPResponse(buf[:n])
		if err != nil {
			continue // not an answer to us: ignore it
		}
		p.mu.Lock()
		if ch, ok := p.waiting[r.CallID]; ok {
			close(ch)
			delete(p.waiting, r.CallID)
		}
		p.mu.Unlock()
	}
}

// probe sends OPTIONS to target and reports whether any SIP response came
// within the timeout. The request goes again at half the timeout, as SIP
// retransmits over UDP, so one lost datagram is not a failure.
func (p *prober) probe(ctx context.Context, target netip.AddrPort) (bool, time.Duration) {
	callID, branch, tag := randomHex(12), randomHex(8), randomHex(4)
	local := p.local
	if local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(sourceFor(target.Addr()), local.Port())
	}
	msg := sipOptions(target, local, callID+"@pbxtopo", branch, tag)
	answered := make(chan struct{})
	p.mu.Lock()
	p.waiting[callID+"@pbxtopo"] = answered
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, callID+"@pbxtopo")
		p.mu.Unlock()
	}()
	start := time.Now()
	timeout := time.NewTimer(p.timeout)
	defer timeout.Stop()
	resend := time.NewTimer(p.timeout / 2)
	defer resend.Stop()
	p.conn.WriteToUDPAddrPort(msg, target)
	for {
		select {
		case <-answered:
			return true, time.Since(start)
		case <-resend.C:
			p.conn.WriteToUDPAddrPort(msg, target)
		case <-timeout.C:
			return false, 0
		case <-ctx.Done():
			return false, 0
		}
	}
}

// sourceFor guesses the local address a datagram to dst leaves from, for
// the Via and Contact headers (a SIP stack answers to the Via).
func sourceFor(dst netip.Addr) netip.Addr {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return dst
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
