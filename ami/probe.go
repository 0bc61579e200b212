package ami

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"time"
)

// ProbeSIP sends a SIP OPTIONS request over UDP to addr (host:port) and
// waits for any SIP response: a server that answers at all, even 404 or
// 401, is up. It retransmits on SIP's T1 schedule (500 ms, doubling) until
// timeout, and returns the round trip of the first answer.
func ProbeSIP(ctx context.Context, addr string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return 0, fmt.Errorf("sip probe %s: %w", addr, err)
	}
	defer conn.Close()
	host, _, _ := net.SplitHostPort(addr)
	callID := randomToken(12)
	req := fmt.Appendf(nil, "OPTIONS sip:%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:pbxtopo@%s>;tag=%s\r\n"+
		"To: <sip:%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"User-Agent: pbxtopo\r\n"+
		"Content-Length: 0\r\n\r\n",
		addr, conn.LocalAddr().String(), randomToken(8), host, randomToken(6), addr, callID)
	start := time.Now()
	deadline, _ := ctx.Deadline()
	buf := make([]byte, 4096)
	for t1 := 500 * time.Millisecond; ; t1 *= 2 {
		if _, err := conn.Write(req); err != nil {
			return 0, fmt.Errorf("sip probe %s: %w", addr, err)
		}
		wait := time.Now().Add(t1)
		if wait.After(deadline) {
			wait = deadline
		}
		conn.SetReadDeadline(wait)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					break
				}
				return 0, fmt.Errorf("sip probe %s: %w", addr, err) // e.g. ICMP port unreachable
			}
			if bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) && bytes.Contains(buf[:n], []byte(callID)) {
				return time.Since(start), nil
			}
		}
		if !time.Now().Before(deadline) {
			return 0, fmt.Errorf("sip probe %s: no answer in %v", addr, timeout)
		}
	}
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// IsLocalIP reports whether ip is an address of one of this host's
// interfaces: the node that holds the voice VIP is the active one.
func IsLocalIP(ip string) bool {
	want := net.ParseIP(ip)
	if want == nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(want) {
			return true
		}
	}
	return false
}
