package srv

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The SIP OPTIONS probe asks a voice VIP "are you there?" the way phones
// and proxies do (RFC 3261 §11). Any response at all, 200 or 404 or 401,
// proves the SIP stack behind the VIP is alive: Asterisk answers OPTIONS
// from strangers with an error, and that is an answer.

// sipOptions returns an OPTIONS request to target from local. callID and
// branch identify it; the answer must carry the same Call-ID.
func sipOptions(target, local netip.AddrPort, callID, branch, tag string) []byte {
	uri := "sip:" + hostPort(target)
	var b bytes.Buffer
	fmt.Fprintf(&b, "OPTIONS %s SIP/2.0\r\n", uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", hostPort(local), branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:pbxtopo@%s>;tag=%s\r\n", hostOnly(local.Addr()), tag)
	fmt.Fprintf(&b, "To: <%s>\r\n", uri)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	b.WriteString("CSeq: 1 OPTIONS\r\n")
	fmt.Fprintf(&b, "Contact: <sip:pbxtopo@%s>\r\n", hostPort(local))
	b.WriteString("Accept: application/sdp\r\n")
	b.WriteString("User-Agent: pbxtopo health probe\r\n")
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.Bytes()
}

func hostPort(ap netip.AddrPort) string {
	return hostOnly(ap.Addr()) + ":" + strconv.Itoa(int(ap.Port()))
}

func hostOnly(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]"
	}
	return a.Unmap().String()
}

// sipResponse is what the probe reads of an answer.
type sipResponse struct {
	Status int
	Reason string
	CallID string
	CSeq   string
}

// parseSIPResponse reads a SIP response's status line and the headers the
// probe matches on. It accepts CRLF or bare LF line ends, folded header
// lines and compact header names (i for Call-ID).
func parseSIPResponse(b []byte) (sipResponse, error) {
	var r sipResponse
	head := b
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		head = b[:i]
	} else if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		head = b[:i]
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	status := lines[0]
	proto, rest, ok := strings.Cut(status, " ")
	if !ok || !strings.EqualFold(proto, "SIP/2.0") {
		return r, fmt.Errorf("%w: status line %.40q does not start with SIP/2.0 (a request, or not SIP)", ErrSIP, status)
	}
	code, reason, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || n < 100 || n > 699 {
		return r, fmt.Errorf("%w: status code %.10q is not 100-699", ErrSIP, code)
	}
	r.Status, r.Reason = n, strings.TrimSpace(reason)
	var headers []string
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(headers) > 0 {
			headers[len(headers)-1] += " " + strings.TrimSpace(l) // a folded line continues the header
			continue
		}
		headers = append(headers, l)
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return r, fmt.Errorf("%w: header line %.40q has no colon", ErrSIP, h)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "call-id", "i":
			r.CallID = value
		case "cseq":
			r.CSeq = value
		}
	}
	if r.CallID == "" {
		return r, fmt.Errorf("%w: no Call-ID header", ErrSIP)
	}
	return r, nil
}
