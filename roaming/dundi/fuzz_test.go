package dundi

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
)

func seedCaptures(f *testing.F) {
	for _, c := range captures {
		for _, p := range dundiPackets(f, filepath.Join("testdata", c)) {
			f.Add(p.payload)
		}
	}
}

// Whatever decodes re-encodes to a frame that decodes the same, and
// neither parsing nor dumping panics.
func FuzzDecodeFrame(f *testing.F) {
	seedCaptures(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			return
		}
		if m, err := ParseMessage(fr); err == nil {
			Dump(io.Discard, "Rx", fr, netip.AddrPort{})
			_ = m
		}
		out, err := fr.Encode(nil)
		if err != nil {
			return // e.g. ENCDATA over 255 bytes is fine to read, long to write
		}
		again, err := DecodeFrame(out)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if again.Header != fr.Header || len(again.IEs) != len(fr.IEs) {
			t.Fatalf("round trip changed the frame: %+v vs %+v", again, fr)
		}
		for i := range fr.IEs {
			if again.IEs[i].Type != fr.IEs[i].Type || !bytes.Equal(again.IEs[i].Data, fr.IEs[i].Data) {
				t.Fatalf("element %d changed", i)
			}
		}
	})
}

// The decrypting path takes any bytes without panicking.
func FuzzOpen(f *testing.F) {
	blk := newCipher(make([]byte, 16))
	seedCaptures(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < HeaderLen {
			return
		}
		inner, err := open(blk, decodeHeader(b), b[HeaderLen:])
		if err == nil && len(inner) < HeaderLen {
			t.Fatalf("open returned %d bytes", len(inner))
		}
	})
}

// A peer fed any packet from a known and an unknown address neither
// panics nor answers with an ANSWER unless the packet was a query it may
// answer.
func FuzzHandlePacket(f *testing.F) {
	seedCaptures(f)
	f.Add(query(0x1001, eidB, "6109", "priv"))
	dir, _ := enterpriseStore(f)
	p, err := New(Config{EID: eidA.String(), Addr: "127.0.0.1:0", PrivateKey: keyPath("dundiA.key"), Peers: []PeerConfig{
		plainPeerCfg(eidB, netip.MustParseAddrPort("127.0.0.1:9"), "symmetric"),
		{EID: EID{2, 0, 0, 0, 0, 0x0c}.String(), Host: "127.0.0.1:9", Model: "symmetric", Permit: []string{"priv"}, Include: []string{"priv"}, PublicKey: keyPath("dundiB.pub")},
	}}, Deps{Directory: dir, Logger: quietLog()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	from := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9"), netip.MustParseAddrPort("127.0.0.3:9")}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, a := range from {
			p.handlePacket(b, a)
		}
		if err := p.checkInvariants(); err != nil {
			t.Fatal(err)
		}
	})
}

// checkInvariants checks that the transaction tables agree.
func (p *Peer) checkInvariants() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, t := range p.trans {
		if t.dead || t.strans != id {
			return fmt.Errorf("transaction %d: dead %v, id %d", id, t.dead, t.strans)
		}
	}
	for k, t := range p.inbound {
		if p.trans[t.strans] != t || !t.inbound || t.dtrans != k.strans || t.addr != k.addr {
			return fmt.Errorf("inbound entry %+v does not match transaction %d", k, t.strans)
		}
	}
	return nil
}
