package srv

import (
	"crypto/sha256"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// transport is one way a phone reaches a cluster.
type transport struct {
	name    string // udp, tcp, tls
	prefix  string // the SRV owner prefix
	service string // the NAPTR service (RFC 3263)
	secure  bool   // uses the sips port
}

var transports = []transport{
	{"udp", "_sip._udp", "SIP+D2U", false},
	{"tcp", "_sip._tcp", "SIP+D2T", false},
	{"tls", "_sips._tcp", "SIPS+D2T", true},
}

var transportNames = map[string]transport{"udp": transports[0], "tcp": transports[1], "tls": transports[2]}

// SOA timers. Secondaries learn of changes by NOTIFY; the refresh is the
// fallback when a NOTIFY is lost, and a long expiry keeps the zone served
// by the secondaries while every agent is away.
const (
	soaRefresh = 300
	soaRetry   = 60
	soaExpire  = 14 * 86400
)

// Zone is the content of the voice zone at one moment: its records, the
// clusters the health view had down, and a digest of the answers.
type Zone struct {
	Origin  string    // lower-case FQDN
	SOA     *dns.SOA  // the serial is set by the server
	Records []dns.RR  // every record but the SOA, in canonical order
	Down    []string  // clusters left out of the answers
	Skipped []Problem // cluster records that could not be published
	Digest  [32]byte  // of Records: equal digests, equal answers
}

// zoneInput is what a zone is built from.
type zoneInput struct {
	settings
	ttl uint32
}

// BuildZone computes the zone from the clusters and their health. up
// reports whether a cluster is up; nil means all are.
func BuildZone(cfg Config, clusters []Cluster, up func(string) bool) (*Zone, error) {
	s, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	return buildZone(zoneInput{s, uint32(cfg.TTL)}, clusters, nil, up), nil
}

func buildZone(in zoneInput, clusters []Cluster, skipped []Problem, up func(string) bool) *Zone {
	if up == nil {
		up = func(string) bool { return true }
	}
	z := &Zone{Origin: in.origin, Skipped: append([]Problem(nil), skipped...)}
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: in.ttl}
	}
	z.SOA = &dns.SOA{Hdr: hdr(in.origin, dns.TypeSOA), Ns: in.nameservers[0].Name, Mbox: in.hostmaster,
		Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire, Minttl: in.ttl}
	var rrs []dns.RR
	byName := map[string]Cluster{}
	for _, c := range clusters {
		if _, dup := byName[c.Name]; dup {
			z.Skipped = append(z.Skipped, Problem{c.Name, "defined twice"})
			continue
		}
		byName[c.Name] = c
	}
	owners := map[string]bool{}
	for _, ns := range in.nameservers {
		rrs = append(rrs, &dns.NS{Hdr: hdr(in.origin, dns.TypeNS), Ns: ns.Name})
		if !ns.Addr.IsValid() {
			continue
		}
		if c, ok := byName[strings.TrimSuffix(ns.Name, "."+in.origin)]; ok && c.Name+"."+in.origin == ns.Name {
			z.Skipped = append(z.Skipped, Problem{c.Name, fmt.Sprintf("its name is also the nameserver %s: the nameserver's address is left out; rename one of them", ns.Name)})
			continue
		}
		if !owners[ns.Name] {
			owners[ns.Name] = true
			rrs = append(rrs, addrRR(hdr, ns.Name, ns.Addr.AsSlice()))
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !up(n) {
			z.Down = append(z.Down, n)
		}
	}
	for _, n := range names {
		c := byName[n]
		host := c.Name + "." + in.origin
		rrs = append(rrs, addrRR(hdr, host, c.VIP.AsSlice()))
		pref := uint16(10)
		for _, tname := range c.Transports {
			t := transportNames[tname]
			owner := t.prefix + "." + host
			rrs = append(rrs, &dns.NAPTR{Hdr: hdr(host, dns.TypeNAPTR), Order: 10, Preference: pref,
				Flags: "S", Service: t.service, Replacement: owner})
			pref += 10
			rrs = append(rrs, srvSet(hdr, owner, in.origin, t, c, byName, up)...)
		}
	}
	sortRecords(rrs)
	z.Records = rrs
	z.Digest = digest(rrs)
	return z
}

// srvSet is the SRV RRset of one cluster and transport: the cluster first,
// then its failover clusters that offer the transport, each at its own
// priority; clusters that are down are left out unless all are.
func srvSet(hdr func(string, uint16) dns.RR_Header, owner, origin string, t transport, c Cluster,
	byName map[string]Cluster, up func(string) bool) []dns.RR {
	list := []Cluster{c}
	seen := map[string]bool{c.Name: true}
	for _, f := range c.Failover {
		fc, ok := byName[f]
		if !ok || seen[f] || !fc.Offers(t.name) {
			continue
		}
		seen[f] = true
		list = append(list, fc)
	}
	var all, live []dns.RR
	for i, m := range list {
		p := m.SIPPort
		if t.secure {
			p = m.SIPSPort
		}
		rr := &dns.SRV{Hdr: hdr(owner, dns.TypeSRV), Priority: uint16(10 * (i + 1)), Weight: 0, Port: p,
			Target: m.Name + "." + origin}
		all = append(all, rr)
		if up(m.Name) {
			live = append(live, rr)
		}
	}
	if len(live) == 0 {
		return all
	}
	return live
}

func addrRR(hdr func(string, uint16) dns.RR_Header, name string, ip net.IP) dns.RR {
	if len(ip) == net.IPv4len {
		return &dns.A{Hdr: hdr(name, dns.TypeA), A: ip}
	}
	return &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: ip}
}

// sortRecords puts records in a stable order: by owner (labels compared
// from the root, as in a zone file), then type; records of one RRset keep
// the order they were built in (SRV by priority, NAPTR by preference).
func sortRecords(rrs []dns.RR) {
	type keyed struct {
		owner string
		rank  int
		rr    dns.RR
	}
	ks := make([]keyed, len(rrs))
	for i, rr := range rrs {
		labels := dns.SplitDomainName(rr.Header().Name)
		for a, b := 0, len(labels)-1; a < b; a, b = a+1, b-1 {
			labels[a], labels[b] = labels[b], labels[a]
		}
		ks[i] = keyed{strings.Join(labels, "\x00"), typeOrder(rr.Header().Rrtype), rr}
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if ks[i].owner != ks[j].owner {
			return ks[i].owner < ks[j].owner
		}
		return ks[i].rank < ks[j].rank
	})
	for i := range ks {
		rrs[i] = ks[i].rr
	}
}

func typeOrder(t uint16) int {
	switch t {
	case dns.TypeSOA:
		return 0
	case dns.TypeNS:
		return 1
	}
	return 2 + int(t)
}

func digest(rrs []dns.RR) [32]byte {
	h := sha256.New()
	for _, rr := range rrs {
		h.Write([]byte(rr.String()))
		h.Write([]byte{'\n'})
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// Text returns the zone in master file format, SOA first, as a transfer
// would deliver it and as NSD or BIND load it.
func (z *Zone) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n", z.Origin)
	b.WriteString(z.SOA.String())
	b.WriteByte('\n')
	for _, rr := range z.Records {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}
