package srv

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkAnswer is the query path without the network: parse, look up,
// copy, patch. Compare with BenchmarkAnswerMiekg, the same answer built
// the usual way (unpack, new message, pack).
func BenchmarkAnswer(b *testing.B) {
	s := fuzzServer(b)
	m := new(dns.Msg)
	m.SetQuestion("_sip._udp.Tpa1."+zoneName, dns.TypeSRV)
	m.SetEdns0(1232, false)
	req, _ := m.Pack()
	from := netip.MustParseAddr("127.0.0.1")
	out := make([]byte, 0, 4096)
	scratch := make([]byte, 512)
	c := &counters{}
	b.ReportAllocs()
	for b.Loop() {
		if s.answerUDP(out[:0], req, from, scratch, c) == nil {
			b.Fatal("no answer")
		}
	}
}

func BenchmarkAnswerMiekg(b *testing.B) {
	s := fuzzServer(b)
	z, _ := s.Zone()
	var rrs []dns.RR
	for _, rr := range z.Records {
		if rr.Header().Name == "_sip._udp.tpa1."+zoneName {
			rrs = append(rrs, rr)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("_sip._udp.Tpa1."+zoneName, dns.TypeSRV)
	m.SetEdns0(1232, false)
	req, _ := m.Pack()
	b.ReportAllocs()
	for b.Loop() {
		var q dns.Msg
		if err := q.Unpack(req); err != nil {
			b.Fatal(err)
		}
		r := new(dns.Msg)
		r.SetReply(&q)
		r.Authoritative = true
		r.Answer = rrs
		r.SetEdns0(1232, false)
		if _, err := r.Pack(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRebuild compiles the zone of 1000 clusters after a health
// change: the work between a cluster going down and the new answers.
func BenchmarkRebuild(b *testing.B) {
	st := newStore(b)
	putClusters(b, st, bigEnterpriseRing(1000)...)
	h := NewStaticHealth()
	cfg := testConfig()
	s, err := New(cfg, Deps{Source: &memSerialSource{st}, Health: h})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.rebuild(); err != nil {
		b.Fatal(err)
	}
	up := false
	for b.Loop() {
		h.Set("c0001", up)
		up = !up
		if err := s.rebuild(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRebuildUnchanged is what every other commit to the store
// costs the DNS server: read the clusters, see nothing changed.
func BenchmarkRebuildUnchanged(b *testing.B) {
	st := newStore(b)
	putClusters(b, st, bigEnterpriseRing(1000)...)
	s, err := New(testConfig(), Deps{Source: st})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.rebuild(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.rebuild(); err != nil {
			b.Fatal(err)
		}
	}
}

// memSerialSource hides the store's WriteLocal, so the benchmark measures
// compiling, not fsync.
type memSerialSource struct{ Source }
