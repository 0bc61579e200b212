package srv

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// limiter is response rate limiting per client network: a token bucket
// for each network in a fixed table (networks that hash alike share a slot
// and reset each other, which only ever lets more through). Reflection
// attacks spoof their victim's address: dropping most answers to one
// network takes the amplification away, and the "slipped" truncated
// answers let a real client behind that network go on over TCP.
type limiter struct {
	rate, burst float64
	slip        int
	v4bits      int
	v6bits      int
	seed        maphash.Seed
	now         func() time.Time
	slots       []rrlSlot
}

type rrlSlot struct {
	mu     sync.Mutex
	net    netip.Prefix
	tokens float64
	last   time.Time
	drops  int
}

type verdict int

const (
	rrlAllow verdict = iota
	rrlDrop
	rrlSlip // send a truncated answer instead
)

const rrlSlots = 1 << 14

func newLimiter(c RRLConfig, now func() time.Time) *limiter {
	if c.Rate <= 0 {
		return nil
	}
	burst := c.Burst
	if burst == 0 {
		burst = 2 * c.Rate
	}
	return &limiter{rate: float64(c.Rate), burst: float64(burst), slip: c.Slip, v4bits: c.IPv4Prefix,
		v6bits: c.IPv6Prefix, seed: maphash.MakeSeed(), now: now, slots: make([]rrlSlot, rrlSlots)}
}

func (l *limiter) check(a netip.Addr) verdict {
	a = a.Unmap()
	bits := l.v6bits
	if a.Is4() {
		bits = l.v4bits
	}
	p, _ := a.Prefix(bits)
	s := &l.slots[maphash.Comparable(l.seed, p)%rrlSlots]
	now := l.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.net != p {
		s.net, s.tokens, s.last, s.drops = p, l.burst, now, 0
	}
	s.tokens += now.Sub(s.last).Seconds() * l.rate
	s.last = now
	if s.tokens > l.burst {
		s.tokens = l.burst
	}
	if s.tokens >= 1 {
		s.tokens--
		return rrlAllow
	}
	s.drops++
	if l.slip > 0 && s.drops%l.slip == 0 {
		return rrlSlip
	}
	return rrlDrop
}
