package ami

import (
	"net"
	"strconv"
	"strings"
)

// Asterisk names the same thing differently across channel drivers and
// versions; these helpers read both spellings.

// deviceName returns the resource of a channel driver interface:
// "PJSIP/5020" → "5020", "SIP/5020" → "5020", "Local/5020@agents/n" →
// "5020", "5020" → "5020".
func deviceName(iface string) string {
	if i := strings.IndexByte(iface, '/'); i >= 0 {
		iface = iface[i+1:]
	}
	if i := strings.IndexAny(iface, "@/"); i >= 0 {
		iface = iface[:i]
	}
	return iface
}

// deviceTech returns the channel driver of an interface ("PJSIP/5020" →
// "PJSIP"), or "".
func deviceTech(iface string) string {
	if i := strings.IndexByte(iface, '/'); i > 0 {
		return iface[:i]
	}
	return ""
}

// uriHostPort returns the host and port of a SIP URI or of "host:port":
// "sip:5020@10.0.0.5:5060;ob" → "10.0.0.5", "5060".
func uriHostPort(uri string) (string, string) {
	u := uri
	if i := strings.IndexByte(u, ':'); i >= 0 && (strings.HasPrefix(strings.ToLower(u), "sip:") || strings.HasPrefix(strings.ToLower(u), "sips:")) {
		u = u[i+1:]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.IndexAny(u, ";?>"); i >= 0 {
		u = u[:i]
	}
	if h, p, err := net.SplitHostPort(u); err == nil {
		return h, p
	}
	return strings.Trim(u, "[]"), ""
}

// mailboxID normalizes a mailbox: "5020" → "5020@default".
func mailboxID(box string) string {
	box = strings.TrimSpace(box)
	if box == "" {
		return ""
	}
	if !strings.Contains(box, "@") {
		box += "@default"
	}
	return box
}

// firstMailbox returns the first box of a mailbox field ("5020@sales,6000").
func firstMailbox(field string) string {
	if i := strings.IndexAny(field, ",&"); i >= 0 {
		field = field[:i]
	}
	return mailboxID(field)
}

// atoiDefault parses n or returns def.
func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return n
}

// sipPeerStatus reads chan_sip's PeerEntry/SIPshowpeer Status column:
// "OK (5 ms)", "LAGGED (2100 ms)", "UNREACHABLE", "UNKNOWN", "Unmonitored".
func sipPeerStatus(s string) (status string, ms int) {
	ms = -1
	if i := strings.IndexByte(s, '('); i >= 0 {
		ms = atoiDefault(strings.TrimSuffix(strings.TrimSpace(s[i+1:]), "ms)"), -1)
	}
	up := strings.ToUpper(s)
	switch {
	case strings.HasPrefix(up, "OK"):
		return "reachable", ms
	case strings.HasPrefix(up, "LAGGED"):
		return "lagged", ms
	case strings.HasPrefix(up, "UNREACHABLE"):
		return "unreachable", -1
	}
	return "unknown", -1
}

// queueMemberState maps a queue member's Status (Asterisk's device state
// number) and InCall flag to an agent state word.
func queueMemberState(status int, inCall, paused bool) string {
	switch {
	case inCall || status == 2 || status == 3 || status == 7 || status == 8:
		return "oncall"
	case status == 6:
		return "ringing"
	case paused:
		return "paused"
	case status == 4 || status == 5:
		return "unavailable"
	}
	return "available"
}

// yes reads Asterisk's booleans: "1", "yes", "true", "on".
func yes(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on", "y":
		return true
	}
	return false
}
