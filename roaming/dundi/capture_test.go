package dundi

import (
	"bytes"
	"crypto/cipher"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var captures = []string{
	"plain/lookup.pcap",
	"encrypted/first-lookup-with-key-exchange.pcap",
	"encrypted/lookups-reusing-key.pcap",
}

// Every DUNDi packet Asterisk sent decodes and re-encodes to its bytes.
func TestCapturesReencode(t *testing.T) {
	for _, c := range captures {
		pkts := dundiPackets(t, filepath.Join("testdata", c))
		if len(pkts) < 4 {
			t.Fatalf("%s: %d DUNDi packets", c, len(pkts))
		}
		for i, p := range pkts {
			f, _ := mustDecode(t, p.payload)
			got, err := f.Encode(nil)
			if err != nil {
				t.Fatalf("%s #%d: encode: %v", c, i+1, err)
			}
			if !bytes.Equal(got, p.payload) {
				t.Errorf("%s #%d: re-encoded\n%x\nwant\n%x", c, i+1, got, p.payload)
			}
		}
	}
}

// The plain lookup decodes field by field as in plain/lookup.txt.
func TestPlainLookupFields(t *testing.T) {
	pkts := dundiPackets(t, "testdata/plain/lookup.pcap")
	f, m := mustDecode(t, pkts[0].payload)
	if f.Src() != 0x647d || f.DTrans != 0 || f.ISeqno != 0 || f.OSeqno != 0 || f.Cmd != CmdDPDiscover || f.Final {
		t.Errorf("#1 header %+v", f.Header)
	}
	if m.Version != 1 || len(m.EIDs) != 1 || m.EIDs[0] != eidB || !m.Direct[0] || m.CalledNumber != "5020" ||
		m.CalledContext != "priv" || m.TTL != 32 || m.CacheBypass {
		t.Errorf("#1 %+v", m)
	}
	f, _ = mustDecode(t, pkts[1].payload)
	if f.Src() != 0x5ff2 || f.Dst() != 0x647d || f.ISeqno != 1 || f.Cmd != CmdACK || f.Final {
		t.Errorf("#2 header %+v", f.Header)
	}
	f, m = mustDecode(t, pkts[2].payload)
	if f.Cmd != CmdDPResponse || !f.Final || len(m.Answers) != 1 || m.Expiration != 3600 ||
		m.Hint == nil || m.Hint.Flags != HintUnaffected || m.Hint.Data != "" {
		t.Fatalf("#3 %+v %+v", f.Header, m)
	}
	a := m.Answers[0]
	want := Answer{EID: eidA, Tech: TechIAX2, Flags: FlagExists, Weight: 0, Dest: "dundi:9QJNf92g2QtDxnlP+RDIHQ==@127.0.0.1:4570/5020"}
	if a != want {
		t.Errorf("#3 answer %+v, want %+v", a, want)
	}
	f, _ = mustDecode(t, pkts[3].payload)
	if f.Cmd != CmdACK || !f.Final || f.ISeqno != 1 || f.OSeqno != 1 {
		t.Errorf("#4 header %+v", f.Header)
	}
}

// debugLines returns the frame lines of an Asterisk debug log, without
// timestamps, for one instance's section ("=== a") or the whole file.
func debugLines(t *testing.T, path, section string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prefix := regexp.MustCompile(`^\[[^\]]*\] VERBOSE\[\d+\] pbx_dundi\.c: ?`)
	var out []string
	in := section == ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "=== ") {
			in = l == "=== "+section
			continue
		}
		if !in || !prefix.MatchString(l) {
			continue
		}
		l = prefix.ReplaceAllString(l, "")
		if strings.TrimSpace(l) == "" || strings.Contains(l, "Ready and Listening") {
			continue
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	return out
}

func dumpLines(dir string, f *Frame, p udpPacket) []string {
	var b bytes.Buffer
	addr := p.dst // Asterisk shows the other end: where a Tx goes, where an Rx came from
	if strings.Contains(strings.ToLower(dir), "rx") {
		addr = p.src
	}
	Dump(&b, dir, f, addr)
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, strings.TrimRight(l, " "))
		}
	}
	return out
}

// Dump prints the plain exchange exactly as Asterisk A's debug log does.
func TestDumpMatchesAsteriskDebug(t *testing.T) {
	pkts := dundiPackets(t, "testdata/plain/lookup.pcap")
	var got []string
	for _, p := range pkts {
		f, _ := mustDecode(t, p.payload)
		dir := "Tx"
		if p.dst.Port() == 4520 {
			dir = "Rx"
		}
		got = append(got, dumpLines(dir, f, p)...)
	}
	want := debugLines(t, "testdata/plain/asterisk-dundi-debug.txt", "a")
	if len(want) != 16 {
		t.Fatalf("read %d lines of Asterisk's debug, want 16", len(want))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dump:\n%s\n\nAsterisk:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// capturedKey decrypts B's session key from the first encrypted lookup.
func capturedKey(t *testing.T) (cipher.Block, *Message) {
	t.Helper()
	pkts := dundiPackets(t, "testdata/encrypted/first-lookup-with-key-exchange.pcap")
	f, m := mustDecode(t, pkts[0].payload)
	if f.Cmd != CmdEncrypt || len(m.EIDs) != 1 || m.EIDs[0] != eidB || m.SharedKey == nil || m.Signature == nil {
		t.Fatalf("first packet: %+v %+v", f.Header, m)
	}
	key, err := openKey(pubKey(t, "dundiB"), privKey(t, "dundiA"), m.SharedKey, m.Signature)
	if err != nil {
		t.Fatal(err)
	}
	return newCipher(key), m
}

// Every ENCRYPT packet of the captures opens with the test keys; the
// inner frames are the ones Asterisk's debug shows, and re-encode exactly.
func TestEncryptedCaptures(t *testing.T) {
	blk, first := capturedKey(t)
	if got := keyCRC(first.SharedKey); got != 1219270587 {
		t.Errorf("KEYCRC32 of the captured SHAREDKEY = %d, want 1219270587 (the value the later lookups send)", got)
	}
	// A forged signature is refused.
	sig := bytes.Clone(first.Signature)
	sig[5] ^= 1
	if _, err := openKey(pubKey(t, "dundiB"), privKey(t, "dundiA"), first.SharedKey, sig); err == nil {
		t.Error("a corrupted signature was accepted")
	}
	// And the key signed by A (not B) does not verify as B's.
	if _, err := openKey(pubKey(t, "dundiA"), privKey(t, "dundiA"), first.SharedKey, first.Signature); err == nil {
		t.Error("B's signature verified with A's public key")
	}

	var inner []string
	for _, c := range captures[1:] {
		for i, p := range dundiPackets(t, filepath.Join("testdata", c)) {
			f, m := mustDecode(t, p.payload)
			if f.Cmd != CmdEncrypt {
				continue
			}
			if m.HasKeyCRC32 && m.KeyCRC32 != 1219270587 {
				t.Errorf("%s #%d: KEYCRC32 %d", c, i+1, m.KeyCRC32)
			}
			plain, err := open(blk, f.Header, m.EncData)
			if err != nil {
				t.Fatalf("%s #%d: %v", c, i+1, err)
			}
			fi, _ := mustDecode(t, plain)
			again, _ := fi.Encode(nil)
			if !bytes.Equal(again, plain) {
				t.Errorf("%s #%d: inner frame re-encoded\n%x\nwant\n%x", c, i+1, again, plain)
			}
			// The same compressed stream under the same IV gives the
			// captured ENCDATA, and so the whole packet, byte for byte.
			pt := make([]byte, len(m.EncData)-16)
			cipher.NewCBCDecrypter(blk, m.EncData[:16]).CryptBlocks(pt, m.EncData[16:])
			var b builder
			for _, ie := range f.IEs[:len(f.IEs)-1] {
				b.raw(ie.Type, ie.Data)
			}
			b.raw(IEEncData, sealCompressed(blk, m.EncData[:16], pt))
			out, _ := (&Frame{Header: f.Header, IEs: b.ies}).Encode(nil)
			if !bytes.Equal(out, p.payload) {
				t.Errorf("%s #%d: re-encrypted packet differs", c, i+1)
			}
			// Our own compression differs from zlib's C code (both are
			// valid streams), so a fresh seal must at least open again.
			if back, err := open(blk, f.Header, seal(blk, m.EncData[:16], plain)); err != nil || !bytes.Equal(back, plain) {
				t.Errorf("%s #%d: seal/open round trip: %v", c, i+1, err)
			}
			if c == captures[2] {
				dir := "    ETx"
				if p.dst.Port() == 4520 {
					dir = "    Erx"
				}
				inner = append(inner, dumpLines(dir, fi, p)...)
			}
		}
	}
	// The inner frames of the key-reusing lookups, as A's debug log shows them.
	var want []string
	for _, l := range debugLines(t, "testdata/encrypted/asterisk-debug-a.txt", "") {
		if strings.HasPrefix(l, "    E") || strings.HasPrefix(l, "          ") || strings.HasPrefix(l, "        ") {
			want = append(want, l)
		}
	}
	if len(want) != 25 {
		t.Fatalf("read %d inner-frame lines of Asterisk's debug, want 25", len(want))
	}
	if strings.Join(inner, "\n") != strings.Join(want, "\n") {
		t.Errorf("inner frames:\n%s\n\nAsterisk:\n%s", strings.Join(inner, "\n"), strings.Join(want, "\n"))
	}
}

// PrintResults prints the captured answer as Asterisk's CLI did.
func TestPrintResultsLikeAsterisk(t *testing.T) {
	pkts := dundiPackets(t, "testdata/plain/lookup.pcap")
	_, m := mustDecode(t, pkts[2].payload)
	rs := []Result{{Answer: m.Answers[0], Expiration: m.Expiration}}
	var b bytes.Buffer
	PrintResults(&b, rs, 0)
	want, _ := os.ReadFile("testdata/plain/lookup-output.txt")
	wantLines := strings.SplitN(string(want), "\n", 2)[1] // drop the "$ asterisk ..." line
	if b.String() != wantLines {
		t.Errorf("printed\n%q\nwant\n%q", b.String(), wantLines)
	}
	b.Reset()
	PrintResults(&b, nil, 1e6)
	if b.String() != "DUNDi lookup returned no results.\nDUNDi lookup completed in 1 ms\n" {
		t.Errorf("no results: %q", b.String())
	}
}
