package srv

import (
	"sync/atomic"

	"github.com/miekg/dns"
)

// Stats are the server's counters since Start, for metrics and status.
type Stats struct {
	UDPQueries  uint64            `json:"udp_queries"`
	TCPQueries  uint64            `json:"tcp_queries"`
	Results     map[string]uint64 `json:"results"` // answer, nodata, nxdomain, refused, formerr, notimp, truncated, dropped
	Types       map[string]uint64 `json:"types"`   // queries by type: SRV, A, AAAA, NAPTR, NS, SOA, ANY, AXFR, IXFR, other
	RRLDropped  uint64            `json:"rrl_dropped"`
	RRLSlipped  uint64            `json:"rrl_slipped"`
	Transfers   uint64            `json:"transfers"`
	NotifySent  uint64            `json:"notify_sent"`
	NotifyFails uint64            `json:"notify_failed"`
	Serial      uint32            `json:"serial"`
	Rebuilds    uint64            `json:"rebuilds"` // zone compilations (serial changes)
}

// counters are kept per UDP worker so two CPUs never fight over one
// cache line; Stats adds them up.
type counters struct {
	queries    atomic.Uint64
	results    [numResults]atomic.Uint64
	types      [len(countedTypes) + 1]atomic.Uint64 // by countedTypes, then other
	rrlDropped atomic.Uint64
	rrlSlipped atomic.Uint64
	_          [64]byte
}

func (c *counters) add(into *Stats) {
	for i := range c.results {
		into.Results[resultNames[i]] += c.results[i].Load()
	}
	for i := range c.types {
		if n := c.types[i].Load(); n > 0 {
			into.Types[typeName(i)] += n
		}
	}
	into.RRLDropped += c.rrlDropped.Load()
	into.RRLSlipped += c.rrlSlipped.Load()
}

// countedTypes are the query types counted by name; the rest are "other".
var countedTypes = [...]uint16{dns.TypeSRV, dns.TypeA, dns.TypeAAAA, dns.TypeNAPTR, dns.TypeNS, dns.TypeSOA,
	dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR}

// typeName is the name of counter i.
func typeName(i int) string {
	if i < len(countedTypes) {
		return dns.TypeToString[countedTypes[i]]
	}
	return "other"
}

// countType counts one query by its type.
func (c *counters) countType(qtype uint16) {
	i := 0
	for i < len(countedTypes) && countedTypes[i] != qtype {
		i++
	}
	c.types[i].Add(1)
}
