package dundi

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// B registers with A (A lists it as host=dynamic) and qualifies it; then
// A can ask B at the address B registered from.
func TestRegisterAndQualify(t *testing.T) {
	dirB := staticDir{"5020": {{Tech: TechIAX2, Flags: FlagExists, Dest: "b/5020"}}}
	a := startPeer(t, Config{EID: eidA.String(), RetransTimer: 50 * time.Millisecond, Peers: []PeerConfig{{
		EID: eidB.String(), Host: "dynamic", Permit: []string{"priv"}, Include: []string{"priv"},
		Unencrypted: true, AllowFrom: []string{"127.0.0.0/8"}, Qualify: "yes",
	}}}, Deps{})
	b := startPeer(t, Config{EID: eidB.String(), RetransTimer: 50 * time.Millisecond, Peers: []PeerConfig{{
		EID: eidA.String(), Host: a.Addr().String(), Permit: []string{"priv"}, Include: []string{"priv"},
		Unencrypted: true, Qualify: "yes", Register: true,
	}}}, Deps{Directory: dirB})
	waitFor(t, "B to register with A", func() bool { return a.Peers()[0].Addr == b.Addr().String() })
	waitFor(t, "B to qualify A", func() bool { return strings.HasPrefix(b.Peers()[0].Status, "OK (") })
	waitFor(t, "A to qualify B", func() bool { return strings.HasPrefix(a.Peers()[0].Status, "OK (") })
	r, err := a.Lookup(context.Background(), "5020", "priv", LookupOptions{})
	if err != nil || r.Err() != nil {
		t.Fatal(err, r.Err())
	}
	if got := dests(r.Results); !slices.Equal(got, []string{"0 IAX2/b/5020 EXISTS"}) {
		t.Errorf("A asking B: %q", got)
	}
	if r.Results[0].EID != eidB {
		t.Errorf("answer EID %s, want B's own (the directory left it zero)", r.Results[0].EID)
	}
}

// An unreachable peer is marked so, and a lookup does not wait on it.
func TestUnreachablePeerSkipped(t *testing.T) {
	dead := newRaw(t) // never answers
	b := startPeer(t, Config{EID: eidB.String(), RetransTimer: 20 * time.Millisecond, Retransmits: 1, Peers: []PeerConfig{
		{EID: eidA.String(), Host: dead.addr().String(), Model: "outbound", Include: []string{"priv"}, Unencrypted: true, Qualify: "yes"},
	}}, Deps{})
	waitFor(t, "the peer to be UNREACHABLE", func() bool { return b.Peers()[0].Status == "UNREACHABLE" })
	if _, err := b.Lookup(context.Background(), "5020", "priv", LookupOptions{}); err == nil || !strings.Contains(err.Error(), "no DUNDi peer to ask") {
		t.Errorf("lookup with only an unreachable peer: %v", err)
	}
}

// EIDQUERY for our own EID returns the entity information.
func TestEIDQuery(t *testing.T) {
	r := newRaw(t)
	a := startPeer(t, Config{EID: eidA.String(), Entity: EntityInfo{Organization: "Example Corp", Locality: "Tampa", Country: "US"},
		Peers: []PeerConfig{plainPeerCfg(eidB, r.addr(), "inbound")}}, Deps{})
	var b builder
	b.short(IEVersion, 1)
	b.eid(IEEID, eidB)
	b.eid(IEReqEID, eidA)
	b.str(IECalledContext, "priv")
	b.short(IETTL, 32)
	q, _ := (&Frame{Header: Header{STrans: 0x0101, Cmd: CmdEIDQuery}, IEs: b.ies}).Encode(nil)
	r.send(a.Addr(), q)
	f, m := mustDecode(t, recvCmd(t, r))
	if f.Cmd != CmdEIDResponse || !f.Final || m.Cause >= 0 || m.Entity == nil || m.Entity.Organization != "Example Corp" || m.Entity.Locality != "Tampa" || m.Entity.Country != "US" {
		t.Errorf("EIDRESPONSE %+v %+v", f.Header, m)
	}
}

// slowDir answers when released.
type slowDir struct{ release chan struct{} }

func (d slowDir) Lookup(ctx context.Context, number, dcontext string) ([]Answer, error) {
	select {
	case <-d.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []Answer{{Tech: TechSIP, Flags: FlagExists, Dest: number + "@10.0.0.1"}}, nil
}

// A slow answer is preceded by a bare ACK (after ack_delay), as
// Asterisk's threaded answer is; a quick one carries the ACK itself.
func TestSlowAnswerIsAckedFirst(t *testing.T) {
	r := newRaw(t)
	d := slowDir{make(chan struct{})}
	a := startPeer(t, Config{EID: eidA.String(), AckDelay: 5 * time.Millisecond, Peers: []PeerConfig{plainPeerCfg(eidB, r.addr(), "inbound")}}, Deps{Directory: d})
	r.send(a.Addr(), query(0x0303, eidB, "6109", "priv"))
	f, _ := mustDecode(t, r.recv(5*time.Second))
	if f.Cmd != CmdACK || f.Dst() != 0x0303 || f.ISeqno != 1 || f.Final {
		t.Fatalf("first reply %+v, want a bare ACK", f.Header)
	}
	close(d.release)
	f, m := mustDecode(t, r.recv(5*time.Second))
	if f.Cmd != CmdDPResponse || !f.Final || len(m.Answers) != 1 || m.Answers[0].Dest != "6109@10.0.0.1" || m.Answers[0].EID != eidA {
		t.Fatalf("answer %+v %+v", f.Header, m)
	}
}
