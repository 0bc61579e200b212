package srv

import (
	"context"
	"net"
	"time"

	"github.com/miekg/dns"
)

// NOTIFY (RFC 1996): when the serial rises, tell each secondary of
// dns.notify, so it transfers the zone at once instead of at its next
// refresh. Each is tried notifyTries times, notifyTimeout apart.
const (
	notifyTries   = 5
	notifyTimeout = time.Second
)

func (s *Server) kickNotify() {
	if len(s.set.notify) == 0 || !s.set.transfers {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default: // a round is already due; it will send the newest serial
	}
}

// notifier sends one round of NOTIFY per kick.
func (s *Server) notifier() {
	defer s.wg.Done()
	ctx := s.ctx
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		t := s.tab.Load()
		for _, target := range s.set.notify {
			if err := s.notifyOne(ctx, t, target.String()); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.notifyKO.Add(1)
				s.log.Warn("dns: secondary did not acknowledge NOTIFY", "secondary", target.String(), "serial", t.serial, "err", err)
			}
		}
	}
}

func (s *Server) notifyOne(ctx context.Context, t *table, addr string) error {
	m := new(dns.Msg)
	m.SetNotify(t.zone.Origin)
	soa := *t.zone.SOA
	soa.Serial = t.serial
	m.Answer = []dns.RR{&soa}
	c := &dns.Client{Net: "udp", Timeout: notifyTimeout}
	var err error
	for try := 0; try < notifyTries; try++ {
		var r *dns.Msg
		s.notified.Add(1)
		r, _, err = c.ExchangeContext(ctx, m, addr)
		if err == nil && r.Opcode == dns.OpcodeNotify && r.Rcode == dns.RcodeSuccess {
			return nil
		}
		if err == nil {
			err = &net.AddrError{Err: "answered " + dns.RcodeToString[r.Rcode], Addr: addr}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}
