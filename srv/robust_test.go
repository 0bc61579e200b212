package srv

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// garbage returns datagrams a broken or hostile client might send: random
// bytes, and a real query with each byte changed in turn, cut short, with
// counts that lie, and with a compression pointer that loops.
func garbage(rnd *rand.Rand) [][]byte {
	var out [][]byte
	for i := 0; i < 500; i++ {
		b := make([]byte, rnd.Intn(600))
		rnd.Read(b)
		if len(b) > 2 && i%2 == 0 {
			b[2] &^= 0x80 // a "query", so it reaches the parser
		}
		out = append(out, b)
	}
	m := new(dns.Msg)
	m.SetQuestion("_sip._udp.tpa1."+zoneName, dns.TypeSRV)
	m.SetEdns0(1232, true)
	q, _ := m.Pack()
	for i := range q {
		for _, v := range []byte{0, 0xff, 0xc0, 63, 64} {
			b := append([]byte(nil), q...)
			b[i] = v
			out = append(out, b)
		}
		out = append(out, q[:i])
	}
	loop := append([]byte(nil), q[:12]...)
	loop = append(loop, 0xc0, 12, 0, 33, 0, 1) // the name points at itself
	lie := append([]byte(nil), q...)
	binary.BigEndian.PutUint16(lie[4:], 0xffff)
	return append(out, loop, lie)
}

func TestGarbageOverUDPAndTCP(t *testing.T) {
	st := sampleStore(t)
	base := runtime.NumGoroutine()
	s := startServer(t, st, nil, func(c *Config) {
		c.TCPIdleTimeout = 300 * time.Millisecond
		c.TCPMaxConnsPerSource = c.TCPMaxConns // every junk connection comes from 127.0.0.1
		c.AllowTransfer = []string{"127.0.0.1"}
	})
	addr := s.Addr()
	serving := runtime.NumGoroutine()
	rnd := rand.New(rand.NewSource(1))
	junk := garbage(rnd)

	udp, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, b := range junk {
		udp.Write(b)
	}

	// Over TCP: junk in length-prefixed frames, frames that lie about
	// their length, a connection that stops halfway, and one that says
	// nothing until the server gives up on it.
	for i, b := range junk[:300] {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 0:
			frame := binary.BigEndian.AppendUint16(nil, uint16(len(b)))
			c.Write(append(frame, b...))
		case 1:
			c.Write(b)
		case 2:
			c.Write([]byte{0xff, 0xff, 1, 2, 3})
		case 3: // silent
		}
		if i%3 == 0 {
			c.Close()
		} else {
			defer c.Close()
		}
	}

	for _, network := range []string{"udp", "tcp"} {
		r := ask(t, addr, network, "_sip._udp.tpa1."+zoneName, dns.TypeSRV)
		if len(r.Answer) != 3 {
			t.Fatalf("%s after garbage: %v", network, r)
		}
	}
	if st := s.Stats(); st.Results["formerr"] == 0 {
		t.Fatalf("no FORMERR counted after garbage: %+v", st)
	}
	// Every connection ends (closed by the client, or idle), and with it
	// its goroutine.
	checkGoroutines(t, serving)
	s.Close()
	checkGoroutines(t, base)
}

// fuzzServer is a server with the sample zone that is never started: the
// fuzz target calls its query path directly.
func fuzzServer(tb testing.TB) *Server {
	cfg := testConfig()
	cfg.AllowTransfer = []string{"127.0.0.1"}
	s, err := New(cfg, Deps{Source: sampleStore(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.rebuild(); err != nil {
		tb.Fatal(err)
	}
	return s
}

func FuzzQuery(f *testing.F) {
	for _, b := range garbage(rand.New(rand.NewSource(2)))[500:560] {
		f.Add(b)
	}
	for _, qt := range []uint16{dns.TypeSRV, dns.TypeNAPTR, dns.TypeA, dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR} {
		m := new(dns.Msg)
		m.SetQuestion("_sip._udp.TPA1."+zoneName, qt)
		b, _ := m.Pack()
		f.Add(b)
	}
	s := fuzzServer(f)
	from := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, req []byte) {
		out := s.answerUDP(nil, req, from, make([]byte, 512), &counters{})
		checkReply(t, req, out, true)
		var w bytes.Buffer
		if err := s.answerTCP(&w, make([]byte, 2, 512), req, from, make([]byte, 512)); err != nil {
			t.Fatalf("TCP path: %v", err)
		}
		for b := w.Bytes(); len(b) > 0; {
			n := int(binary.BigEndian.Uint16(b))
			checkReply(t, req, b[2:2+n], false)
			b = b[2+n:]
		}
		// The fast parser agrees with miekg/dns on whatever both read.
		var fast, slow query
		if parseFast(req, &fast) {
			if ok, _ := parseSlow(req, &slow, make([]byte, 512)); ok {
				if !bytes.Equal(fast.question, slow.question) || fast.edns != slow.edns || fast.udpSize != slow.udpSize ||
					fast.do != slow.do || fast.ednsVer != slow.ednsVer || fast.id != slow.id || fast.flags != slow.flags {
					t.Fatalf("parsers differ on %x:\nfast %+v\nslow %+v", req, fast, slow)
				}
			}
		}
	})
}

// checkReply checks an answer to req: none at all, or a well-formed
// response with the request's ID that fits the transport.
func checkReply(t *testing.T, req, out []byte, udp bool) {
	t.Helper()
	if out == nil {
		return
	}
	var m dns.Msg
	if err := m.Unpack(out); err != nil {
		t.Fatalf("answer to %x does not parse: %v\n%x", req, err, out)
	}
	if !m.Response || m.Id != binary.BigEndian.Uint16(req) {
		t.Fatalf("answer to %x: not a response with its ID: %v", req, m.MsgHdr)
	}
	if udp {
		limit := 512
		if opt := m.IsEdns0(); opt != nil {
			limit = 1232
		}
		if len(out) > limit {
			t.Fatalf("UDP answer of %d bytes, limit %d", len(out), limit)
		}
	}
}
