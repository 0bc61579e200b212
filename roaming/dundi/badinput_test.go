package dundi

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// hostile is a responder with one clear peer (B, allowed from 127.0.0.1),
// one that must encrypt (C), and one whose clear packets may only come
// from 127.0.0.2 (D).
func hostile(t *testing.T) *Peer {
	dir, _ := enterpriseStore(t)
	eidC, eidD := EID{2, 0, 0, 0, 0, 0x0c}, EID{2, 0, 0, 0, 0, 0x0d}
	return startPeer(t, Config{EID: eidA.String(), PrivateKey: keyPath("dundiA.key"), RetransTimer: 50 * time.Millisecond, Peers: []PeerConfig{
		plainPeerCfg(eidB, netip.MustParseAddrPort("127.0.0.1:9"), "inbound"),
		{EID: eidC.String(), Host: "127.0.0.1:9", Model: "inbound", Permit: []string{"priv"}, PublicKey: keyPath("dundiB.pub")},
		{EID: eidD.String(), Host: "127.0.0.2:9", Model: "inbound", Permit: []string{"priv"}, Unencrypted: true, AllowFrom: []string{"127.0.0.2"}},
	}}, Deps{Directory: dir})
}

// query builds a clear DPDISCOVER from eid with transaction id strans.
func query(strans uint16, eid EID, number, ctx string) []byte {
	var b builder
	b.short(IEVersion, 1)
	b.eid(IEEIDDirect, eid)
	b.str(IECalledNumber, number)
	b.str(IECalledContext, ctx)
	b.short(IETTL, 32)
	out, _ := (&Frame{Header: Header{STrans: strans, Cmd: CmdDPDiscover}, IEs: b.ies}).Encode(nil)
	return out
}

var drains uint16

// drain reads every reply up to the ACK of a NULL sent last: the peer
// handles packets in order, so every reply to what came before is in.
func drain(t *testing.T, r *rawConn, to netip.AddrPort) [][]byte {
	t.Helper()
	drains++ // a new id each time, or the NULL itself would be a replay
	id := 0x7000 + drains
	null := Header{STrans: id, Cmd: CmdNull, Final: true}
	r.send(to, null.appendTo(nil))
	var got [][]byte
	for {
		b := r.recv(5 * time.Second)
		f, _ := mustDecode(t, b)
		if f.Cmd == CmdACK && f.Dst() == id {
			return got
		}
		got = append(got, b)
	}
}

func TestBadPacketsDroppedAndCounted(t *testing.T) {
	a := hostile(t)
	r := newRaw(t)
	good := query(0x1001, eidB, "6109", "priv")
	eidBad := make([]byte, len(good))
	copy(eidBad, good)
	eidBad[12+1] = 5 // EID_DIRECT says 5 bytes: misaligns every element after it

	badKey := func() []byte {
		var b builder
		b.eid(IEEID, EID{2, 0, 0, 0, 0, 0x0c})
		b.raw(IESharedKey, bytes.Repeat([]byte{1}, 128))
		b.raw(IESignature, bytes.Repeat([]byte{2}, 128))
		b.raw(IEEncData, bytes.Repeat([]byte{3}, 48))
		out, _ := (&Frame{Header: Header{STrans: 0x1003, Cmd: CmdEncrypt}, IEs: b.ies}).Encode(nil)
		return out
	}()
	unknownCRC := func() []byte {
		var b builder
		b.eid(IEEID, EID{2, 0, 0, 0, 0, 0x0c})
		b.int32(IEKeyCRC32, 12345)
		b.raw(IEEncData, bytes.Repeat([]byte{3}, 48))
		out, _ := (&Frame{Header: Header{STrans: 0x1004, Cmd: CmdEncrypt}, IEs: b.ies}).Encode(nil)
		return out
	}()
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"truncated header", good[:5]},
		{"truncated element", good[:len(good)-1]},
		{"stray byte", append(bytes.Clone(good), 7)},
		{"oversized", append(bytes.Clone(good), make([]byte, MaxPacket)...)},
		{"misaligned elements", eidBad},
		{"5-byte EID", append(Header{STrans: 0x100b, Cmd: CmdDPDiscover}.appendTo(nil), byte(IEEIDDirect), 5, 2, 0, 0, 0, 0)},
		{"short answer", append(Header{STrans: 0x1002, Cmd: CmdDPDiscover}.appendTo(nil), byte(IEAnswer), 3, 1, 2, 3)},
		{"wrong key", badKey},
		{"unknown session key", unknownCRC},
		{"unknown entity", query(0x1005, EID{9, 9, 9, 9, 9, 9}, "6109", "priv")},
		{"clear from an encrypted peer", query(0x1006, EID{2, 0, 0, 0, 0, 0x0c}, "6109", "priv")},
		{"clear from a wrong address", query(0x1007, EID{2, 0, 0, 0, 0, 0x0d}, "6109", "priv")},
		{"context not permitted", query(0x1008, eidB, "6109", "e164")},
		{"no number", query(0x1009, eidB, "", "priv")},
		{"ack for no transaction", Header{STrans: 0x100a, DTrans: 0x4321, Cmd: CmdACK}.appendTo(nil)},
	}
	for _, c := range cases {
		r.send(a.Addr(), c.pkt)
	}
	replies := drain(t, r, a.Addr())
	for _, b := range replies {
		f, m := mustDecode(t, b)
		switch f.Cmd {
		case CmdACK, CmdInvalid, CmdEncRej:
		case CmdDPResponse:
			if len(m.Answers) > 0 || m.Cause < 1 {
				t.Errorf("answered a bad query with data: %+v", m)
			}
		default:
			t.Errorf("unexpected reply %s", f.Cmd)
		}
	}
	s := a.Stats()
	if s.Truncated != 4 || s.Malformed != 2 || s.Oversized != 1 || s.BadCrypto != 2 || s.NoAuth != 4 || s.Invalid != 1 || s.Answers != 0 {
		t.Errorf("counters %+v", s)
	}

	// The peer still answers a good query after all that.
	r.send(a.Addr(), good)
	resp := recvCmd(t, r)
	if f, m := mustDecode(t, resp); f.Cmd != CmdDPResponse || len(m.Answers) != 3 {
		t.Fatalf("good query: %s %+v", f.Cmd, m)
	}
}

// A late copy of a final packet, after its transaction closed, is
// acknowledged again (our ACK was lost), never answered anew.
func TestLateFinalIsAckedAgain(t *testing.T) {
	fakeA := newRaw(t)
	q := startPeer(t, Config{EID: eidB.String(), Peers: []PeerConfig{plainPeerCfg(eidA, fakeA.addr(), "outbound")}}, Deps{})
	done := make(chan struct{})
	go func() {
		q.Lookup(context.Background(), "5020", "priv", LookupOptions{})
		close(done)
	}()
	qp := fakeA.recv(5 * time.Second)
	ours := binary.BigEndian.Uint16(qp)
	pkts := dundiPackets(t, "testdata/plain/lookup.pcap")
	resp := patchTrans(pkts[2].payload, 0, ours)
	fakeA.send(q.Addr(), resp)
	first := fakeA.recv(5 * time.Second)
	<-done
	fakeA.send(q.Addr(), resp) // as if our final ACK was lost
	again := fakeA.recv(5 * time.Second)
	if !bytes.Equal(first, again) {
		t.Errorf("re-ACK %x, want %x", again, first)
	}
	if s := q.Stats(); s.Duplicates != 1 || s.Invalid != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Queries from unknown entities are refused without keeping state: a
// flood of them cannot fill the transaction table, and each still gets
// its NOAUTH (never silence).
func TestStrangersLeaveNoState(t *testing.T) {
	a := hostile(t)
	r := newRaw(t)
	const n = 100
	for i := 0; i < n; i++ {
		r.send(a.Addr(), query(uint16(0x2000+i), EID{9, 9, 9, 9, byte(i >> 8), byte(i)}, "6109", "priv"))
	}
	refused := 0
	for _, b := range drain(t, r, a.Addr()) {
		f, m := mustDecode(t, b)
		if f.Cmd != CmdDPResponse || !f.Final || m.Cause != CauseNoAuth || len(m.Answers) != 0 {
			t.Fatalf("reply %s %+v", f.Cmd, m)
		}
		// Our ACK of the refusal finds the closed entry: no INVALID.
		ack := Header{STrans: f.DTrans, DTrans: f.STrans, ISeqno: 1, OSeqno: 1, Cmd: CmdACK, Final: true}
		r.send(a.Addr(), ack.appendTo(nil))
		refused++
	}
	drain(t, r, a.Addr())
	if s := a.Stats(); refused != n || s.Transactions != 0 || s.NoAuth != n || s.Invalid != 0 {
		t.Errorf("%d refused; stats %+v", refused, s)
	}
}
