package dundi

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// handleCommand acts on one in-sequence command (Asterisk's
// handle_command_response). It returns whether the dialog is final now
// (an ENCRYPT carries the final flag of its inner packet) and whether the
// ACK is deferred to the answer. Called with mu held.
func (p *Peer) handleCommand(t *transaction, f *Frame, m *Message, from netip.AddrPort, encrypted bool) (final, deferAck bool) {
	final = f.Final
	switch f.Cmd {
	case CmdDPDiscover, CmdEIDQuery, CmdPrecacheRq:
		return final, p.handleQuery(t, f, m, from, encrypted)
	case CmdRegReq:
		p.handleRegister(t, m, from, encrypted)
	case CmdDPResponse:
		p.handleResponse(t, f, m, encrypted)
	case CmdEIDResponse, CmdRegResponse:
		if !final {
			p.send(t, CmdCancel, true, nil)
		}
		if t.req != nil && m.Cause >= 1 {
			t.req.fail(t, refusal(t, m))
		}
	case CmdInvalid, CmdNull, CmdPrecacheRp:
		if f.Cmd == CmdInvalid && t.req != nil {
			t.req.fail(t, fmt.Errorf("%w: %s does not know our transaction (INVALID)", ErrRefused, t.addr))
		}
		if !final {
			p.send(t, CmdCancel, true, nil)
		}
	case CmdEncRej:
		return p.handleEncRej(t, f, final)
	case CmdEncrypt:
		return p.handleEncrypt(t, f, m, from, encrypted)
	case CmdCancel:
		// The other side gave up; a running lookup's answer is dropped.
	default:
		if t.req != nil {
			t.req.fail(t, fmt.Errorf("%w: %s does not know command %s", ErrRefused, t.addr, f.Cmd))
		}
		if !final {
			var b builder
			b.byte1(IEUnknown, byte(f.Cmd))
			p.send(t, CmdUnknown, f.OSeqno == 0, b.ies)
		}
	}
	return final, false
}

// handleQuery answers DPDISCOVER, EIDQUERY and PRECACHERQ: who asks, may
// they, and in clear? It returns whether the ACK waits for the answer.
func (p *Peer) handleQuery(t *transaction, f *Frame, m *Message, from netip.AddrPort, encrypted bool) bool {
	resp := responseTo(f.Cmd)
	refuse := func(cause int, text string) bool {
		if cause == CauseNoAuth {
			p.stats.noAuth.Add(1)
		}
		var b builder
		b.cause(cause, text)
		p.send(t, resp, true, b.ies)
		return false
	}
	var ps *peerState
	if len(m.EIDs) > 0 {
		ps = p.byEID[m.EIDs[0]]
	}
	if ps == nil {
		p.log.Info("dundi: query from an unknown entity", "from", from, "eid", firstEID(m))
		return refuse(CauseNoAuth, "")
	}
	if encrypted && t.peer != ps {
		return refuse(CauseNoAuth, "EID stack does not match the encrypting peer")
	}
	if !encrypted && !ps.clearAllowed(from.Addr()) {
		p.log.Info("dundi: clear query refused", "peer", ps.eid, "from", from)
		return refuse(CauseNoAuth, "Unencrypted responses not permitted")
	}
	if t.peer == nil {
		p.applyPeer(t, ps)
		t.encrypt = encrypted
	}
	dcontext := m.CalledContext
	if dcontext == "" {
		dcontext = "e164"
	}
	if f.Cmd == CmdEIDQuery {
		p.answerEntity(t, m)
		return false
	}
	if m.CalledNumber == "" {
		return refuse(CauseGeneral, "Invalid or missing number/entity")
	}
	if slices.Contains(m.EIDs[1:], p.cfg.eid) {
		return refuse(CauseDuplicate, "Loop: our entity id is already in the EID stack")
	}
	if f.Cmd == CmdPrecacheRq || ps.model&modelInbound == 0 || !hasContext(ps.permit, dcontext) {
		return refuse(CauseNoAuth, "Permission to context denied")
	}
	if p.dir == nil {
		return refuse(CauseNoAuth, "Unsupported DUNDI Context")
	}
	if in, ok := p.dir.(Instant); ok && in.Instant() {
		// Memory only: answer inline, no goroutine, no second lock.
		ies := p.answerIEs(p.ctx, m.CalledNumber, dcontext, &p.inline)
		p.stats.answered.Add(1)
		if err := p.send(t, CmdDPResponse, true, ies); err != nil {
			p.destroy(t, false)
		}
		return false
	}
	select {
	case p.slots <- struct{}{}:
	default:
		return refuse(CauseGeneral, "Out of threads")
	}
	t.busy = true
	t.ackDue = time.Now().Add(p.cfg.AckDelay)
	go p.answerQuery(t, m.CalledNumber, dcontext)
	return true
}

// responseTo names the response to a command that opens a dialog.
func responseTo(c Command) Command {
	switch c {
	case CmdDPDiscover:
		return CmdDPResponse
	case CmdEIDQuery:
		return CmdEIDResponse
	case CmdPrecacheRq:
		return CmdPrecacheRp
	case CmdRegReq:
		return CmdRegResponse
	case CmdEncrypt:
		return CmdEncRej
	}
	return 0
}

func firstEID(m *Message) string {
	if len(m.EIDs) == 0 {
		return "none"
	}
	return m.EIDs[0].String()
}

// answerBudget bounds the elements of a response so that, encrypted and
// with a key, it stays under MaxPacket.
const answerBudget = MaxPacket - 600

// answerQuery looks the number up and sends DPRESPONSE (Asterisk's
// dundi_lookup_thread, without forwarding: the store knows every cluster).
func (p *Peer) answerQuery(t *transaction, number, dcontext string) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	base := p.ctx
	p.mu.Unlock()
	ies := p.answerIEs(base, number, dcontext, &answerScratch{})
	p.mu.Lock()
	t.busy = false
	if !t.dead {
		p.stats.answered.Add(1)
		if err := p.send(t, CmdDPResponse, true, ies); err != nil {
			p.destroy(t, false)
		}
	}
	p.unlockAndFlush()
}

// answerScratch is the memory of a DPRESPONSE being built: the answers
// and the elements made of them. The read loop reuses one under mu for
// the answers of an Instant directory (dead once the response is
// encoded), two allocations less per lookup.
type answerScratch struct {
	answers []Answer
	b       builder
}

// answerIEs asks the directory and builds the DPRESPONSE elements in s:
// answers, hint and expiration, or a cause.
func (p *Peer) answerIEs(base context.Context, number, dcontext string, s *answerScratch) []IE {
	ctx := base
	if in, ok := p.dir.(Instant); !ok || !in.Instant() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(base, 2*time.Second)
		defer cancel()
	}
	var answers []Answer
	var err error
	if ap, ok := p.dir.(LookupAppender); ok {
		answers, err = ap.AppendLookup(ctx, s.answers[:0], number, dcontext)
		s.answers = answers
		defer clear(answers) // keep no strings alive until the next lookup
	} else {
		answers, err = p.dir.Lookup(ctx, number, dcontext)
	}
	// Room for a few answers, the hint and the expiration at once.
	b := &s.b
	b.ies = slices.Grow(b.ies[:0], len(answers)+2)
	b.buf = slices.Grow(b.buf[:0], 64*len(answers)+16)
	hint := Hint{Flags: HintUnaffected}
	switch {
	case errors.Is(err, ErrUnknownContext):
		p.stats.noAuth.Add(1)
		b.cause(CauseNoAuth, "Unsupported DUNDI Context")
	case err != nil:
		p.log.Warn("dundi: directory lookup failed", "number", number, "context", dcontext, "err", err)
		b.cause(CauseGeneral, "Lookup failed")
	default:
		size, n := 0, 0
		for _, a := range answers {
			if a.EID.IsZero() {
				a.EID = p.cfg.eid
			}
			if len(a.Dest) > 255-11 || size+13+len(a.Dest) > answerBudget || n == maxAnswers {
				p.log.Warn("dundi: answer left out (too long or too many)", "number", number, "dest", a.Dest)
				continue
			}
			b.answer(a)
			size += 13 + len(a.Dest)
			n++
		}
		p.stats.answers.Add(uint64(n))
		if n == 0 {
			hint.Flags |= HintDontAsk
			if da, ok := p.dir.(DontAsker); ok {
				hint.Data = da.DontAsk(number, dcontext)
			}
		}
		b.hint(hint)
		b.short(IEExpiration, p.cfg.Expiration)
	}
	return b.ies
}

// answerEntity answers EIDQUERY for our own EID; we do not forward.
func (p *Peer) answerEntity(t *transaction, m *Message) {
	var b builder
	if m.ReqEID == nil {
		b.cause(CauseGeneral, "Invalid or missing number/entity")
		p.send(t, CmdEIDResponse, true, b.ies)
		return
	}
	if *m.ReqEID == p.cfg.eid {
		e := p.cfg.Entity
		b.str(IEDepartment, e.Department)
		b.str(IEOrganization, e.Organization)
		b.str(IELocality, e.Locality)
		b.str(IEStateProv, e.StateProv)
		b.str(IECountry, e.Country)
		b.str(IEEmail, e.Email)
		b.str(IEPhone, e.Phone)
		if e.IPAddr != "" {
			b.str(IEIPAddr, e.IPAddr)
		}
	}
	b.hint(Hint{})
	p.send(t, CmdEIDResponse, true, b.ies)
}

// handleRegister records a dynamic peer's address (REGREQ).
func (p *Peer) handleRegister(t *transaction, m *Message, from netip.AddrPort, encrypted bool) {
	var ps *peerState
	if len(m.EIDs) > 0 {
		ps = p.byEID[m.EIDs[0]]
	}
	var b builder
	if ps == nil || !ps.dynamic || (encrypted && t.peer != ps) {
		p.stats.noAuth.Add(1)
		b.cause(CauseNoAuth, "")
		p.send(t, CmdRegResponse, true, b.ies)
		return
	}
	if !encrypted && !ps.clearAllowed(from.Addr()) {
		p.stats.noAuth.Add(1)
		b.cause(CauseNoAuth, "Unencrypted registrations not permitted")
		p.send(t, CmdRegResponse, true, b.ies)
		return
	}
	if ps.addr != from {
		p.log.Info("dundi: registered peer", "peer", ps.eid, "addr", from)
		ps.nextQual = time.Now() // qualify it at once
	}
	ps.addr = from
	ps.regExp = time.Now().Add(time.Duration(registerExpire+10) * time.Second)
	if t.peer == nil {
		p.applyPeer(t, ps)
		t.encrypt = encrypted
	}
	b.short(IEExpiration, registerExpire)
	p.send(t, CmdRegResponse, true, b.ies)
}

// handleResponse takes the answers of a DPRESPONSE to our lookup.
func (p *Peer) handleResponse(t *transaction, f *Frame, m *Message, encrypted bool) {
	if m.Cause >= 1 {
		if t.req != nil {
			t.req.fail(t, refusal(t, m))
		}
	} else if t.encrypt && !encrypted {
		if t.req != nil {
			t.req.fail(t, fmt.Errorf("%w: %s answered in clear, but it has a public key here", ErrRefused, t.addr))
		}
	} else if t.req != nil {
		t.req.add(t, m)
	}
	if !f.Final {
		p.send(t, CmdCancel, true, nil)
	}
}

func refusal(t *transaction, m *Message) error {
	return &RefusedError{Addr: t.addr.String(), Cause: m.Cause, CauseText: m.CauseText}
}

// handleEncRej resends our first packet with the full session key after
// the peer rejected it (it lost our key, e.g. by restarting), once.
func (p *Peer) handleEncRej(t *transaction, f *Frame, final bool) (bool, bool) {
	ps := t.peer
	if t.sendFullKey || t.last == nil || ps == nil || ps.tx.blk == nil {
		if t.req != nil {
			t.req.fail(t, &RefusedError{Addr: t.addr.String(), EncRej: true})
		}
		if !final {
			p.send(t, CmdCancel, true, nil)
		}
		return final, false
	}
	t.sendFullKey = true
	if !final {
		return final, false
	}
	p.sendAck(t, true)
	lastFrame, err := DecodeFrame(t.last)
	if err != nil {
		return true, false
	}
	enc, ok := lastFrame.Find(IEEncData)
	if !ok {
		return true, false
	}
	// A new transaction id: the peer closed the old one with its ENCREJ.
	old := t.strans
	id, err := p.newTransID()
	if err != nil {
		return true, false
	}
	delete(p.trans, old)
	t.strans, t.dtrans, t.iseqno, t.oiseqno, t.oseqno, t.aseqno, t.final = id, 0, 0, 0, 0, 0, false
	t.pending = t.pending[:0]
	p.trans[id] = t
	var b builder
	b.eid(IEEID, p.cfg.eid)
	b.raw(IESharedKey, ps.tx.enc)
	b.raw(IESignature, ps.tx.sig)
	b.raw(IEEncData, enc)
	p.send(t, CmdEncrypt, false, b.ies)
	ps.sentFullKey = true
	return false, false
}

// handleEncrypt opens an ENCRYPT packet and handles the packet inside
// (Asterisk: the first packet of a dialog must carry our EID and a session
// key we accept; anything we cannot open gets ENCREJ).
func (p *Peer) handleEncrypt(t *transaction, f *Frame, m *Message, from netip.AddrPort, encrypted bool) (bool, bool) {
	final := f.Final
	if !encrypted {
		if t.iseqno == 1 && t.oseqno == 0 {
			var ps *peerState
			if len(m.EIDs) > 0 {
				ps = p.byEID[m.EIDs[0]]
			}
			var err error
			if ps == nil {
				err = fmt.Errorf("%w: unknown entity %s", ErrDecrypt, firstEID(m))
			} else {
				err = ps.checkKey(m)
			}
			if err != nil {
				p.stats.badCrypto.Add(1)
				p.drops.warn("bad session key", from, err)
				if !final {
					p.send(t, CmdEncRej, true, nil)
				}
				return final, false
			}
			p.applyPeer(t, ps)
			t.blk = ps.rx.blk
		}
		if t.encrypt && m.EncData != nil && t.blk != nil {
			inner, err := open(t.blk, f.Header, m.EncData)
			var fi *Frame
			var mi *Message
			if err == nil {
				if fi, err = DecodeFrame(inner); err == nil {
					mi, err = ParseMessage(fi)
				}
			}
			if err == nil {
				if p.trace != nil {
					p.trace("    Erx", fi, from)
				}
				innerFinal, deferAck := p.handleCommand(t, fi, mi, from, true)
				return final || innerFinal, deferAck
			}
			p.drops.warn("undecryptable", from, err)
		}
	}
	p.stats.badCrypto.Add(1)
	if !final {
		t.encrypt = false
		p.send(t, CmdEncRej, true, nil)
	}
	return final, false
}
