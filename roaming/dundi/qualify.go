package dundi

import (
	"net/netip"
	"time"
)

// registerExpire is how long a registration lasts, in seconds (Asterisk's
// default_expiration); registrations are renewed that often.
const registerExpire = 60

// maintainPeer qualifies the peer (a NULL every minute, every 10 s while
// unreachable) and renews our registration with it. Called with mu held.
func (p *Peer) maintainPeer(ps *peerState, now time.Time) {
	if ps.dynamic && ps.addr.IsValid() && now.After(ps.regExp) {
		p.log.Info("dundi: registration expired", "peer", ps.eid, "addr", ps.addr)
		ps.addr, ps.reachable, ps.lastRTT = netip.AddrPort{}, 0, 0
	}
	if !ps.addr.IsValid() {
		return
	}
	if ps.qualify > 0 && ps.qualTrans == nil {
		if ps.nextQual.IsZero() {
			ps.nextQual = now.Add(p.cfg.RetransTimer) // first NULL soon after start
		}
		if !now.Before(ps.nextQual) {
			if t, err := p.newTrans(ps.addr, ps); err == nil {
				t.qual = true
				ps.qualTrans, ps.qualTx = t, now
				p.send(t, CmdNull, true, nil)
			}
			ps.nextQual = now.Add(time.Minute)
			if ps.reachable < 0 {
				ps.nextQual = now.Add(10 * time.Second)
			}
		}
	}
	if ps.cfg.Register && ps.regTrans == nil && !now.Before(ps.nextReg) {
		if t, err := p.newTrans(ps.addr, ps); err == nil {
			ps.regTrans = t
			var b builder
			b.short(IEVersion, 1)
			b.eid(IEEID, p.cfg.eid)
			b.short(IEExpiration, registerExpire)
			p.send(t, CmdRegReq, false, b.ies)
		}
		ps.nextReg = now.Add(registerExpire * time.Second)
	}
}
