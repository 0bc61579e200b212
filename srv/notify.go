package srv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// NOTIFY (RFC 1996): when the serial rises, tell each secondary of
// dns.notify, so it transfers the zone at once instead of at its next
// refresh. Every secondary has its own sender, so a silent one delays
// nobody; each is tried notifyTries times, notifyRetry apart (whether it
// was silent or refused), and a newer serial replaces an older one still
// being retried. NOTIFY leaves from the address of dns_addr: secondaries
// accept it only from the primary they transfer from.
const (
	notifyTries = 5
	notifyRetry = time.Second
)

// kickNotify asks every sender for a round with the newest serial.
func (s *Server) kickNotify() {
	if !s.set.transfers {
		return
	}
	for _, k := range s.notifyKicks {
		select {
		case k <- struct{}{}:
		default: // a round is already due; it will send the newest serial
		}
	}
}

// notifier sends NOTIFY to one secondary, one round per kick.
func (s *Server) notifier(target netip.AddrPort, kick <-chan struct{}) {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-kick:
		}
		for s.notifyRound(target, kick) {
		}
	}
}

// notifyRound tells one secondary of the current serial; true when a
// newer serial came during the retries, which must be sent instead.
func (s *Server) notifyRound(target netip.AddrPort, kick <-chan struct{}) (again bool) {
	ctx := s.ctx
	t := s.tab.Load()
	var err error
	for try := 1; ; try++ {
		start := time.Now()
		s.notified.Add(1)
		if err = s.notifyOnce(ctx, t, target); err == nil || try == notifyTries || ctx.Err() != nil {
			break
		}
		wait := time.NewTimer(s.notifyRetry - time.Since(start))
		select {
		case <-ctx.Done():
			wait.Stop()
			return false
		case <-kick:
			wait.Stop()
			return true
		case <-wait.C:
		}
	}
	if err != nil && ctx.Err() == nil {
		s.notifyKO.Add(1)
		s.log.Warn("dns: secondary did not acknowledge NOTIFY", "secondary", target.String(), "serial", t.serial,
			"tries", notifyTries, "err", err)
	}
	return false
}

// notifyOnce sends one NOTIFY from dns_addr's address and waits up to
// notifyRetry for the acknowledgement.
func (s *Server) notifyOnce(ctx context.Context, t *table, target netip.AddrPort) error {
	m := new(dns.Msg)
	m.SetNotify(t.zone.Origin)
	soa := *t.zone.SOA
	soa.Serial = t.serial
	m.Answer = []dns.RR{&soa}
	req, err := m.Pack()
	if err != nil {
		return err
	}
	var local *net.UDPAddr
	if src := s.set.source; src.IsValid() && src.Is4() == target.Addr().Is4() {
		local = &net.UDPAddr{IP: src.AsSlice(), Zone: src.Zone()}
	}
	conn, err := net.DialUDP("udp", local, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(s.notifyRetry)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return err
		}
		var r dns.Msg
		if r.Unpack(buf[:n]) != nil || r.Id != m.Id || !r.Response {
			continue // not the answer to this NOTIFY
		}
		if r.Opcode != dns.OpcodeNotify || r.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("%s answered %s", target, dns.RcodeToString[r.Rcode])
		}
		return nil
	}
}
