package dundi

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the peer's counters since New. Every dropped packet is
// counted under its reason.
type Stats struct {
	Received     uint64 `json:"received"`      // packets read
	Sent         uint64 `json:"sent"`          // packets written, retransmissions included
	Retransmits  uint64 `json:"retransmits"`   // packets sent again for want of an ACK
	Malformed    uint64 `json:"malformed"`     // dropped: bad element lengths or contents
	Truncated    uint64 `json:"truncated"`     // dropped: shorter than their header or elements
	Oversized    uint64 `json:"oversized"`     // dropped: larger than MaxPacket
	Replayed     uint64 `json:"replayed"`      // dropped: the first packet of a finished transaction again
	OutOfWindow  uint64 `json:"out_of_window"` // dropped: sequence number neither expected nor the last one
	Duplicates   uint64 `json:"duplicates"`    // retransmissions acknowledged again without processing
	Invalid      uint64 `json:"invalid"`       // INVALID sent for an unknown transaction
	NoAuth       uint64 `json:"noauth"`        // queries refused (unknown peer, clear when encryption is required, context not permitted)
	BadCrypto    uint64 `json:"bad_crypto"`    // ENCREJ sent: unknown session key, bad signature or undecryptable data
	Answered     uint64 `json:"answered"`      // DPDISCOVER answered (with or without answers)
	Answers      uint64 `json:"answers"`       // ANSWER elements sent
	Lookups      uint64 `json:"lookups"`       // DPDISCOVER sent by Lookup
	Timeouts     uint64 `json:"timeouts"`      // transactions that ran out of retransmissions
	Transactions int    `json:"transactions"`  // live transactions now
}

type counters struct {
	received, sent, retransmits, malformed, truncated, oversized, replayed, outOfWindow,
	duplicates, invalid, noAuth, badCrypto, answered, answers, lookups, timeouts atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received: c.received.Load(), Sent: c.sent.Load(), Retransmits: c.retransmits.Load(),
		Malformed: c.malformed.Load(), Truncated: c.truncated.Load(), Oversized: c.oversized.Load(),
		Replayed: c.replayed.Load(), OutOfWindow: c.outOfWindow.Load(), Duplicates: c.duplicates.Load(),
		Invalid: c.invalid.Load(), NoAuth: c.noAuth.Load(), BadCrypto: c.badCrypto.Load(),
		Answered: c.answered.Load(), Answers: c.answers.Load(), Lookups: c.lookups.Load(), Timeouts: c.timeouts.Load(),
	}
}

// dropLog logs dropped packets at most once a second per reason, with
// the number suppressed in between, so a flood cannot flood the log.
type dropLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	last map[string]time.Time
	supp map[string]int
}

func newDropLog(log *slog.Logger) *dropLog {
	return &dropLog{log: log, last: map[string]time.Time{}, supp: map[string]int{}}
}

func (d *dropLog) warn(reason string, from netip.AddrPort, err error) {
	d.mu.Lock()
	now := time.Now()
	if now.Sub(d.last[reason]) < time.Second {
		d.supp[reason]++
		d.mu.Unlock()
		return
	}
	n := d.supp[reason]
	d.last[reason], d.supp[reason] = now, 0
	d.mu.Unlock()
	args := []any{"reason", reason, "from", from.String()}
	if err != nil {
		args = append(args, "err", err)
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	d.log.Warn("dundi: dropped packet", args...)
}
