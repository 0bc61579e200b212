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
	types      [len(typeNames)]atomic.Uint64
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
			into.Types[typeNames[i]] += n
		}
	}
	into.RRLDropped += c.rrlDropped.Load()
	into.RRLSlipped += c.rrlSlipped.Load()
}

// typeNames are the query types counted by name; the rest are "other".
var typeNames = [...]string{"SRV", "A", "AAAA", "NAPTR", "NS", "SOA", "ANY", "AXFR", "IXFR", "other"}

// countType counts one query by its type.
func (c *counters) countType(qtype uint16) {
	i := len(typeNames) - 1
	switch qtype {
	case dns.TypeSRV:
		i = 0
	case dns.TypeA:
		i = 1
	case dns.TypeAAAA:
		i = 2
	case dns.TypeNAPTR:
		i = 3
	case dns.TypeNS:
		i = 4
	case dns.TypeSOA:
		i = 5
	case dns.TypeANY:
		i = 6
	case dns.TypeAXFR:
		i = 7
	case dns.TypeIXFR:
		i = 8
	}
	c.types[i].Add(1)
}
