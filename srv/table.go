package srv

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/miekg/dns"
)

// table is a zone compiled for answering: every positive answer as
// complete wire messages (ID 0, question in lower case), the names that
// exist, and the SOA record for negative answers. A table never changes;
// the server swaps in a new one when the zone or health changes.
type table struct {
	zone    *Zone
	serial  uint32
	origin  []byte             // wire form, lower case
	answers map[string]*answer // key: lower-case wire name + qtype (2 bytes)
	names   map[string]bool    // every name that exists, empty non-terminals included
	soaRR   []byte             // the SOA record, owner uncompressed
	maxUDP  int
}

// answer holds one answer in several sizes, longest first: the whole
// answer, then with fewer additional records, down to the answer section
// alone. A query takes the longest that fits its size limit; when none
// does, it gets an empty truncated answer and asks again over TCP.
type answer struct {
	variants [][]byte
}

// optLen is the size of the OPT record the server adds to EDNS answers.
const optLen = 11

// compile builds the answer table of a zone with a serial.
func compile(z *Zone, serial uint32, maxUDP int) (*table, error) {
	soa := *z.SOA
	soa.Serial = serial
	t := &table{zone: z, serial: serial, answers: map[string]*answer{}, names: map[string]bool{}, maxUDP: maxUDP}
	var err error
	if t.origin, err = wireName(z.Origin); err != nil {
		return nil, err
	}
	buf := make([]byte, 512)
	n, err := dns.PackRR(&soa, buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("srv: packing the SOA: %w", err)
	}
	t.soaRR = append([]byte(nil), buf[:n]...)

	sets := map[setKey][]dns.RR{}
	var order []setKey
	add := func(rr dns.RR) {
		k := setKey{rr.Header().Name, rr.Header().Rrtype}
		if _, ok := sets[k]; !ok {
			order = append(order, k)
		}
		sets[k] = append(sets[k], rr)
	}
	add(&soa)
	for _, rr := range z.Records {
		add(rr)
	}
	addrs := func(name string) []dns.RR {
		return append(append([]dns.RR(nil), sets[setKey{name, dns.TypeA}]...), sets[setKey{name, dns.TypeAAAA}]...)
	}
	anyChoice := map[string]setKey{}
	for _, k := range order {
		rrs := sets[k]
		var extra []dns.RR
		switch k.t {
		case dns.TypeSRV:
			for _, rr := range rrs {
				extra = appendNew(extra, addrs(rr.(*dns.SRV).Target)...)
			}
		case dns.TypeNAPTR:
			for _, rr := range rrs {
				srvs := sets[setKey{rr.(*dns.NAPTR).Replacement, dns.TypeSRV}]
				extra = appendNew(extra, srvs...)
				for _, s := range srvs {
					extra = appendNew(extra, addrs(s.(*dns.SRV).Target)...)
				}
			}
		case dns.TypeNS:
			for _, rr := range rrs {
				extra = appendNew(extra, addrs(rr.(*dns.NS).Ns)...)
			}
		}
		a, err := packAnswer(k.name, k.t, rrs, extra, maxUDP)
		if err != nil {
			return nil, err
		}
		wn, err := wireName(k.name)
		if err != nil {
			return nil, err
		}
		t.answers[lookupKey(wn, k.t)] = a
		if c, ok := anyChoice[k.name]; !ok || anyRank(k.t) < anyRank(c.t) {
			anyChoice[k.name] = k
		}
		// The name and every name between it and the origin exist.
		for off := 0; ; {
			t.names[string(wn[off:])] = true
			if len(wn)-off <= len(t.origin) || wn[off] == 0 {
				break
			}
			off += int(wn[off]) + 1
		}
	}
	// RFC 8482: ANY gets one RRset, not everything.
	for name, k := range anyChoice {
		a, err := packAnswer(name, dns.TypeANY, sets[k], nil, maxUDP)
		if err != nil {
			return nil, err
		}
		wn, _ := wireName(name)
		t.answers[lookupKey(wn, dns.TypeANY)] = a
	}
	return t, nil
}

type setKey struct {
	name string
	t    uint16
}

// anyRank orders the RRsets an ANY query may get: the one a phone most
// likely wants first.
func anyRank(t uint16) int {
	for i, r := range []uint16{dns.TypeSOA, dns.TypeSRV, dns.TypeNAPTR, dns.TypeA, dns.TypeAAAA, dns.TypeNS} {
		if r == t {
			return i
		}
	}
	return 99
}

func appendNew(list []dns.RR, rrs ...dns.RR) []dns.RR {
next:
	for _, rr := range rrs {
		for _, have := range list {
			if have == rr {
				continue next
			}
		}
		list = append(list, rr)
	}
	return list
}

// packAnswer packs one answer in the sizes queries may ask for.
func packAnswer(name string, qtype uint16, rrs, extra []dns.RR, maxUDP int) (*answer, error) {
	m := &dns.Msg{Compress: true}
	m.Response, m.Authoritative = true, true
	m.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
	m.Answer = rrs
	extra, cuts := groupSets(extra)
	p := &packer{m: m, extra: extra, cuts: cuts, packed: map[int][]byte{}}
	a := &answer{}
	// The size limits answers meet: TCP, EDNS at the server's maximum,
	// plain UDP, and EDNS at the minimum (all with room for the OPT).
	for _, limit := range []int{dns.MaxMsgSize - optLen, maxUDP - optLen, 512, 512 - optLen} {
		b, err := p.within(limit)
		if err != nil {
			return nil, fmt.Errorf("srv: packing %s %s: %w", name, dns.TypeToString[qtype], err)
		}
		if b != nil && !a.has(len(b)) {
			a.variants = append(a.variants, b)
		}
	}
	sort.SliceStable(a.variants, func(i, j int) bool { return len(a.variants[i]) > len(a.variants[j]) })
	return a, nil
}

// groupSets orders additional records so that each RRset is contiguous
// (in the order of first appearance) and returns the places where the
// list may be cut: 0, the end of each RRset. A message carries whole
// RRsets or none of them (RFC 2181 §9).
func groupSets(rrs []dns.RR) ([]dns.RR, []int) {
	var order []setKey
	sets := map[setKey][]dns.RR{}
	for _, rr := range rrs {
		k := setKey{dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype}
		if _, ok := sets[k]; !ok {
			order = append(order, k)
		}
		sets[k] = append(sets[k], rr)
	}
	out := make([]dns.RR, 0, len(rrs))
	cuts := []int{0}
	for _, k := range order {
		out = append(out, sets[k]...)
		cuts = append(cuts, len(out))
	}
	return out, cuts
}

// packer packs a message with the first n of its additional records,
// n being one of cuts, remembering what it packed.
type packer struct {
	m      *dns.Msg
	extra  []dns.RR
	cuts   []int // ascending; the last is len(extra)
	packed map[int][]byte
}

func (p *packer) pack(n int) ([]byte, error) {
	if b, ok := p.packed[n]; ok {
		return b, nil
	}
	p.m.Extra = p.extra[:n]
	b, err := p.m.Pack()
	p.packed[n] = b
	return b, err
}

// within returns the message with as many whole additional RRsets as fit
// in limit bytes, or nil when the answer section alone does not fit.
// Sizes grow with the cut, so a binary search finds the largest.
func (p *packer) within(limit int) ([]byte, error) {
	full, err := p.pack(len(p.extra))
	if err != nil || len(full) <= limit {
		return full, err
	}
	lo, hi := -1, len(p.cuts)-1 // cut lo fits (or lo = -1), cut hi does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		b, err := p.pack(p.cuts[mid])
		if err != nil {
			return nil, err
		}
		if len(b) <= limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo < 0 {
		return nil, nil
	}
	return p.pack(p.cuts[lo])
}

func (a *answer) has(n int) bool {
	for _, v := range a.variants {
		if len(v) == n {
			return true
		}
	}
	return false
}

// pick returns the longest variant of at most limit bytes, or nil.
func (a *answer) pick(limit int) []byte {
	for _, v := range a.variants {
		if len(v) <= limit {
			return v
		}
	}
	return nil
}

func wireName(name string) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.CanonicalName(name), buf, 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("srv: name %q: %w", name, err)
	}
	return buf[:n], nil
}

func lookupKey(wire []byte, qtype uint16) string {
	k := make([]byte, len(wire)+2)
	copy(k, wire)
	binary.BigEndian.PutUint16(k[len(wire):], qtype)
	return string(k)
}
