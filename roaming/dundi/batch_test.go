package dundi

import (
	"net/netip"
	"testing"
)

// TestBurstAnsweredInFull sends 300 queries at once, so that the read
// loop takes them several per read and sends the answers several per
// write: each query gets its own answer, once, with the answers.
func TestBurstAnsweredInFull(t *testing.T) {
	a := hostile(t)
	r := newRaw(t)
	r.c.SetReadBuffer(4 << 20)
	const n = 300
	for id := uint16(1); id <= n; id++ {
		r.send(a.Addr(), query(id, eidB, "6109", "priv"))
	}
	seen := map[uint16]bool{}
	for _, b := range drain(t, r, a.Addr()) {
		f, m := mustDecode(t, b)
		if f.Cmd != CmdDPResponse {
			continue
		}
		if len(m.Answers) == 0 || m.Cause > 0 {
			t.Fatalf("query %d: %d answers, cause %d %q", f.Dst(), len(m.Answers), m.Cause, m.CauseText)
		}
		if f.Dst() < 1 || f.Dst() > n {
			t.Fatalf("an answer to query %d, which was never sent", f.Dst())
		}
		seen[f.Dst()] = true
	}
	if len(seen) != n {
		t.Fatalf("%d of %d queries answered", len(seen), n)
	}
	if s := a.Stats(); s.Received < n+1 || s.Answered < n {
		t.Fatalf("stats: %d received, %d answered; want at least %d and %d", s.Received, s.Answered, n+1, n)
	}
}

// TestDualStackSocketAnswersIPv4 listens on every address, IPv6 and IPv4
// (dundi.addr ":4520"): the batched reads and writes of an IPv6 socket
// must reach an IPv4 querier.
func TestDualStackSocketAnswersIPv4(t *testing.T) {
	dir, _ := enterpriseStore(t)
	a := startPeer(t, Config{EID: eidA.String(), Addr: ":0", Peers: []PeerConfig{
		plainPeerCfg(eidB, netip.MustParseAddrPort("127.0.0.1:9"), "inbound"),
	}}, Deps{Directory: dir})
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), a.Addr().Port())
	r := newRaw(t)
	for id := uint16(1); id <= 3; id++ {
		r.send(to, query(id, eidB, "6109", "priv"))
	}
	answered := 0
	for _, b := range drain(t, r, to) {
		if f, m := mustDecode(t, b); f.Cmd == CmdDPResponse && len(m.Answers) > 0 {
			answered++
		}
	}
	if answered != 3 {
		t.Fatalf("%d of 3 queries answered over the dual-stack socket", answered)
	}
}
