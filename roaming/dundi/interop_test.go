package dundi

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"
)

// asteriskA is a pbxtopo peer set up as Asterisk A of the captures: EID
// 0a, mapping priv to IAX2 dundi:${SECRET}@127.0.0.1:4570/${NUMBER}
// (nopartial), 5020 in the store, answers cached for 3600 s.
func asteriskA(t *testing.T, secret string, encrypted bool) *Peer {
	st := newStore(t, []cluster{{name: "a", vip: "127.0.0.1"}}, []ext{{cluster: "a", number: "5020", mailbox: "5020", roaming: true}})
	cfg := Config{EID: eidA.String(), Expiration: 3600, Secret: secret,
		Mappings: []MappingConfig{{Context: "priv", Tech: "IAX2", Destination: "dundi:${SECRET}@${IPADDR}:4570/${NUMBER}", Options: []string{"nopartial"}}}}
	dcfg, err := cfg.DirectoryConfig()
	if err != nil {
		t.Fatal(err)
	}
	dcfg.EIDOf, dcfg.Logger = func(string) EID { return eidA }, quietLog()
	dir, err := NewStoreDirectory(st, nil, dcfg)
	if err != nil {
		t.Fatal(err)
	}
	pc := PeerConfig{EID: eidB.String(), Host: "127.0.0.1:4521", Model: "symmetric", Permit: []string{"priv"}, Include: []string{"priv"}}
	if encrypted {
		pc.PublicKey = keyPath("dundiB.pub")
		cfg.PrivateKey = keyPath("dundiA.key")
	} else {
		pc.Unencrypted, pc.AllowFrom = true, []string{"127.0.0.1"}
	}
	cfg.Peers = []PeerConfig{pc}
	return startPeer(t, cfg, Deps{Directory: dir})
}

// recvCmd reads packets until one that is not a bare ACK.
func recvCmd(t *testing.T, r *rawConn) []byte {
	t.Helper()
	for {
		b := r.recv(5 * time.Second)
		if f, _ := mustDecode(t, b); f.Cmd != CmdACK {
			return b
		}
	}
}

// patchTrans sets the transaction ids of a captured packet.
func patchTrans(b []byte, strans, dtrans uint16) []byte {
	c := bytes.Clone(b)
	if strans != 0 {
		binary.BigEndian.PutUint16(c[0:], strans)
	}
	if dtrans != 0 {
		binary.BigEndian.PutUint16(c[2:], dtrans)
	}
	return c
}

// Our peer, fed Asterisk B's captured query, sends Asterisk A's captured
// answer byte for byte (but its own transaction id), built from the store.
func TestAnswersCapturedPlainQuery(t *testing.T) {
	a := asteriskA(t, "9QJNf92g2QtDxnlP+RDIHQ==", false)
	pkts := dundiPackets(t, "testdata/plain/lookup.pcap")
	b := newRaw(t)
	b.send(a.Addr(), pkts[0].payload)
	resp := recvCmd(t, b)
	ours := binary.BigEndian.Uint16(resp)
	if want := patchTrans(pkts[2].payload, ours, 0); !bytes.Equal(resp, want) {
		t.Fatalf("answer\n%x\nwant (Asterisk's)\n%x", resp, want)
	}
	b.send(a.Addr(), patchTrans(pkts[3].payload, 0, ours))
	waitFor(t, "the transaction to end", func() bool { return a.Stats().Transactions == 0 })
}

// Fed the captured encrypted exchange (full key, then KEYCRC32 twice), our
// peer verifies B's signature, opens every query and answers each one with
// the inner frame Asterisk A sent, encrypted under B's session key.
func TestAnswersCapturedEncryptedQueries(t *testing.T) {
	a := asteriskA(t, "sx9mYnrJU0XRurdctLSNAA==", true)
	blk, _ := capturedKey(t)
	first := dundiPackets(t, "testdata/encrypted/first-lookup-with-key-exchange.pcap")
	reuse := dundiPackets(t, "testdata/encrypted/lookups-reusing-key.pcap")
	b := newRaw(t)
	exchange := func(query, answer []byte) {
		t.Helper()
		b.send(a.Addr(), query)
		resp := recvCmd(t, b)
		f, m := mustDecode(t, resp)
		if f.Cmd != CmdEncrypt || m.EncData == nil || m.SharedKey != nil || m.HasKeyCRC32 {
			t.Fatalf("answer is not a keyless ENCRYPT: %+v %+v", f.Header, m)
		}
		inner, err := open(blk, f.Header, m.EncData)
		if err != nil {
			t.Fatalf("our answer does not open with B's session key: %v", err)
		}
		af, am := mustDecode(t, answer)
		want, err := open(blk, af.Header, am.EncData)
		if err != nil {
			t.Fatal(err)
		}
		if want = patchTrans(want, f.Src(), 0); !bytes.Equal(inner, want) {
			t.Fatalf("inner answer\n%x\nwant (Asterisk's)\n%x", inner, want)
		}
		qf, _ := mustDecode(t, query)
		ack := Header{STrans: qf.STrans, DTrans: f.STrans, ISeqno: 1, OSeqno: 1, Cmd: CmdACK, Final: true}
		b.send(a.Addr(), ack.appendTo(nil))
	}
	exchange(first[0].payload, first[2].payload) // 5020, SHAREDKEY + SIGNATURE
	exchange(reuse[0].payload, reuse[2].payload) // 5020, KEYCRC32
	exchange(reuse[4].payload, reuse[6].payload) // 5999: DONTASK 59, no answer
	waitFor(t, "the transactions to end", func() bool { return a.Stats().Transactions == 0 })
	if s := a.Stats(); s.BadCrypto != 0 || s.Answered != 3 || s.Answers != 2 {
		t.Errorf("stats %+v", s)
	}
	// A replay of an encrypted query is dropped, not answered again.
	b.send(a.Addr(), reuse[0].payload)
	for _, p := range drain(t, b, a.Addr()) {
		if f, _ := mustDecode(t, p); f.Dst() == mustFrame(t, reuse[0].payload).Src() {
			t.Errorf("the replay was answered: %s", f.Cmd)
		}
	}
	if s := a.Stats(); s.Replayed != 1 || s.Answered != 3 {
		t.Errorf("after the replay: %+v", s)
	}
}

// Asking like Asterisk B: our DPDISCOVER is B's captured one but for the
// transaction id; given A's captured answer, the lookup prints what B's
// CLI printed, and our final ACK is B's.
func TestAsksLikeCapturedQuerier(t *testing.T) {
	fakeA := newRaw(t)
	pc := plainPeerCfg(eidA, fakeA.addr(), "outbound")
	b := startPeer(t, Config{EID: eidB.String(), TTL: 32, Peers: []PeerConfig{pc}}, Deps{})
	pkts := dundiPackets(t, "testdata/plain/lookup.pcap")
	type out struct {
		res *LookupResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := b.Lookup(context.Background(), "5020", "priv", LookupOptions{})
		done <- out{r, err}
	}()
	q := fakeA.recv(5 * time.Second)
	ours := binary.BigEndian.Uint16(q)
	if want := patchTrans(pkts[0].payload, ours, 0); !bytes.Equal(q, want) {
		t.Fatalf("query\n%x\nwant (Asterisk's)\n%x", q, want)
	}
	fakeA.send(b.Addr(), patchTrans(pkts[1].payload, 0, ours))
	fakeA.send(b.Addr(), patchTrans(pkts[2].payload, 0, ours))
	ack := fakeA.recv(5 * time.Second)
	if want := patchTrans(pkts[3].payload, ours, 0); !bytes.Equal(ack, want) {
		t.Errorf("final ACK %x, want %x", ack, want)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	var buf bytes.Buffer
	PrintResults(&buf, o.res.Results, 0)
	want, _ := os.ReadFile("testdata/plain/lookup-output.txt")
	if got, w := buf.String(), strings.SplitN(string(want), "\n", 2)[1]; got != w {
		t.Errorf("printed\n%s\nwant\n%s", got, w)
	}
}

func mustFrame(t *testing.T, b []byte) *Frame {
	f, _ := mustDecode(t, b)
	return f
}
