package srv

import "sync/atomic"

// Stats are the server's counters since Start, for metrics and status.
type Stats struct {
	UDPQueries  uint64            `json:"udp_queries"`
	TCPQueries  uint64            `json:"tcp_queries"`
	Results     map[string]uint64 `json:"results"` // answer, nodata, nxdomain, refused, formerr, notimp, truncated, dropped
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
	rrlDropped atomic.Uint64
	rrlSlipped atomic.Uint64
	_          [64]byte
}

func (c *counters) add(into *Stats) {
	for i := range c.results {
		into.Results[resultNames[i]] += c.results[i].Load()
	}
	into.RRLDropped += c.rrlDropped.Load()
	into.RRLSlipped += c.rrlSlipped.Load()
}
