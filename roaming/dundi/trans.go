package dundi

import (
	"crypto/cipher"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// transaction is one DUNDi dialog with one peer address, as in Asterisk:
// sequence numbers in both directions, one packet in flight, ACKs, the
// final flag. Guarded by Peer.mu.
type transaction struct {
	strans, dtrans uint16 // ours and theirs (15 bits)
	addr           netip.AddrPort
	peer           *peerState // known once authenticated or when we started it

	iseqno  uint8 // next sequence number expected from them
	oiseqno uint8 // the last one received
	oseqno  uint8 // our next sequence number
	aseqno  uint8 // the iseqno we last acknowledged

	encrypt     bool         // packets are encrypted (the peer has keys)
	sendFullKey bool         // send SHAREDKEY rather than KEYCRC32
	blk         cipher.Block // this dialog's session key
	final       bool         // we sent our final packet

	pending []packet  // sent, not yet acknowledged
	last    []byte    // the last packet acknowledged, as sent (resent with the full key after ENCREJ)
	sent    [1]packet // pending's first room: one allocation less per lookup

	inbound   bool      // they started it
	firstHash uint64    // hash of their first packet (replays)
	busy      bool      // a directory lookup is running for it
	ackDue    time.Time // send a bare ACK then, unless answered first
	touched   time.Time // last packet in either direction

	req  *request // the lookup it belongs to (ours)
	qual bool     // a qualify NULL
	dead bool
}

type packet struct {
	oseqno uint8
	data   []byte    // as sent (encrypted when the dialog is)
	left   int       // retransmissions left
	next   time.Time // when to send it again
}

// newTransID picks a free random transaction id (1..32766). Ids come
// from a ChaCha8 stream seeded from Deps.Rand: unpredictable to an
// off-path attacker, without a system call per lookup.
func (p *Peer) newTransID() (uint16, error) {
	start := uint16(p.ids.Uint64()%32766) + 1
	for id := start; ; {
		if _, used := p.trans[id]; !used {
			return id, nil
		}
		id = id%32766 + 1
		if id == start {
			return 0, fmt.Errorf("dundi: all 32766 transaction ids are in use")
		}
	}
}

func (p *Peer) newTrans(addr netip.AddrPort, ps *peerState) (*transaction, error) {
	id, err := p.newTransID()
	if err != nil {
		return nil, err
	}
	t := &transaction{strans: id, addr: addr, touched: time.Now()}
	t.pending = t.sent[:0]
	if ps != nil {
		p.applyPeer(t, ps)
		t.sendFullKey = !ps.sentFullKey
	}
	p.trans[id] = t
	return t, nil
}

// applyPeer binds a transaction to an authenticated or chosen peer.
func (p *Peer) applyPeer(t *transaction, ps *peerState) {
	t.peer = ps
	if ps.encrypted() {
		t.encrypt = true
	}
}

type theirKey struct {
	addr   netip.AddrPort
	strans uint16
}

// closedKey is theirKey without pointers (netip.Addr holds one), for the
// closed-transaction cache.
type closedKey struct {
	ip     [16]byte
	port   uint16
	strans uint16
}

func keyOf(addr netip.AddrPort, strans uint16) closedKey {
	return closedKey{addr.Addr().As16(), addr.Port(), strans}
}

// findTrans matches a header to a live transaction as Asterisk's
// find_transaction does: by our id, or (their first packet again) by
// their id with no destination id yet.
func (p *Peer) findTrans(h Header, from netip.AddrPort) *transaction {
	if t := p.trans[h.Dst()]; t != nil && t.addr == from {
		if h.Src() != 0 {
			if t.inbound && t.dtrans != h.Src() {
				delete(p.inbound, theirKey{from, t.dtrans})
				p.inbound[theirKey{from, h.Src()}] = t
			}
			t.dtrans = h.Src()
		}
		return t
	}
	if h.DTrans == 0 {
		if t := p.inbound[theirKey{from, h.Src()}]; t != nil {
			return t
		}
	}
	return nil
}

// opensTrans reports whether a command may start a transaction.
func opensTrans(c Command) bool {
	switch c {
	case CmdDPDiscover, CmdEIDQuery, CmdPrecacheRq, CmdRegReq, CmdNull, CmdEncrypt:
		return true
	}
	return false
}

// destroy ends a transaction; timedOut says it ran out of retransmissions.
func (p *Peer) destroy(t *transaction, timedOut bool) {
	if t.dead {
		return
	}
	t.dead = true
	if p.trans[t.strans] == t {
		delete(p.trans, t.strans)
	}
	now := time.Now()
	k := theirKey{t.addr, t.dtrans}
	if t.inbound && p.inbound[k] == t {
		delete(p.inbound, k)
	}
	if t.dtrans != 0 {
		p.closed.add(keyOf(t.addr, t.dtrans), t.strans, now)
	}
	if t.firstHash != 0 {
		p.replays.add(t.firstHash, struct{}{}, now)
	}
	if timedOut {
		p.stats.timeouts.Add(1)
	}
	if ps := t.peer; ps != nil {
		if ps.qualTrans == t {
			ps.qualTrans = nil
			if timedOut {
				if ps.reachable >= 0 {
					p.log.Warn("dundi: peer is UNREACHABLE", "peer", ps.eid, "addr", t.addr)
				}
				ps.reachable, ps.lastRTT = -1, 0
			} else {
				rtt := time.Since(ps.qualTx)
				if rtt > ps.qualify {
					ps.reachable = -1
					p.log.Warn("dundi: peer is TOO LAGGED", "peer", ps.eid, "rtt", rtt)
				} else {
					if ps.reachable < 0 {
						p.log.Info("dundi: peer is REACHABLE", "peer", ps.eid, "rtt", rtt)
					}
					ps.reachable = 1
				}
				ps.lastRTT = rtt
			}
		}
		if ps.regTrans == t {
			ps.regTrans = nil
		}
	}
	if t.req != nil {
		var err error
		if timedOut {
			err = fmt.Errorf("%w at %s after %d tries", ErrTimeout, t.addr, p.cfg.Retransmits+1)
		}
		t.req.transDone(t, err)
	}
}

// send queues a packet of the transaction (Asterisk's dundi_send): every
// packet but an ACK takes a sequence number and is retransmitted until
// acknowledged; packets of an encrypted dialog are wrapped in ENCRYPT.
func (p *Peer) send(t *transaction, cmd Command, final bool, ies []IE) error {
	if t.dead {
		return nil
	}
	h := Header{STrans: t.strans, DTrans: t.dtrans, ISeqno: t.iseqno, OSeqno: t.oseqno, Cmd: cmd, Final: final}
	data, err := (&Frame{Header: h, IEs: ies}).Encode(make([]byte, 0, 256))
	if err != nil {
		return err
	}
	if final {
		t.final = true
	}
	if cmd != CmdACK {
		t.oseqno++
	}
	t.aseqno = t.iseqno
	if t.encrypt && encryptable(cmd) {
		if p.trace != nil {
			p.trace("    ETx", &Frame{Header: h, IEs: ies}, t.addr)
		}
		if data, err = p.encryptPacket(t, h, data); err != nil {
			p.log.Warn("dundi: cannot encrypt", "peer", peerName(t), "err", err)
			return err
		}
	}
	now := time.Now()
	t.touched = now
	if cmd != CmdACK {
		t.pending = append(t.pending, packet{oseqno: h.OSeqno, data: data, left: p.cfg.Retransmits, next: now.Add(p.cfg.RetransTimer)})
	}
	p.queue(t.addr, data)
	return nil
}

func (p *Peer) sendAck(t *transaction, final bool) []byte {
	h := Header{STrans: t.strans, DTrans: t.dtrans, ISeqno: t.iseqno, OSeqno: t.oseqno, Cmd: CmdACK, Final: final}
	data := h.appendTo(make([]byte, 0, HeaderLen))
	t.aseqno = t.iseqno
	p.queue(t.addr, data)
	return data
}

func encryptable(c Command) bool {
	switch c {
	case CmdRegReq, CmdRegResponse, CmdDPDiscover, CmdDPResponse, CmdEIDQuery, CmdEIDResponse, CmdPrecacheRq, CmdPrecacheRp:
		return true
	}
	return false
}

// encryptPacket wraps a packet in ENCRYPT (Asterisk's dundi_encrypt). The
// first packet of a dialog we start carries our EID and the session key
// (SHAREDKEY and SIGNATURE, or KEYCRC32 once the peer has it).
func (p *Peer) encryptPacket(t *transaction, h Header, plain []byte) ([]byte, error) {
	var b builder
	if h.ISeqno == 0 && h.OSeqno == 0 {
		ps := t.peer
		if ps == nil {
			return nil, fmt.Errorf("%w: no peer for the session key", ErrBadKey)
		}
		if err := ps.updateKey(p.rnd, time.Now(), p.cfg.KeyTTL); err != nil {
			return nil, err
		}
		if !ps.sentFullKey {
			t.sendFullKey = true
		}
		b.eid(IEEID, p.cfg.eid)
		if t.sendFullKey {
			b.raw(IESharedKey, ps.tx.enc)
			b.raw(IESignature, ps.tx.sig)
		} else {
			b.int32(IEKeyCRC32, ps.tx.crc)
		}
		t.blk = ps.tx.blk
		ps.sentFullKey = true
	}
	if t.blk == nil {
		return nil, fmt.Errorf("%w: no session key in this transaction", ErrBadKey)
	}
	iv := make([]byte, 16)
	if _, err := io.ReadFull(p.rnd, iv); err != nil {
		return nil, err
	}
	b.raw(IEEncData, seal(t.blk, iv, plain))
	outer := Header{STrans: h.STrans, DTrans: h.DTrans, ISeqno: h.ISeqno, OSeqno: h.OSeqno, Cmd: CmdEncrypt}
	return (&Frame{Header: outer, IEs: b.ies}).Encode(make([]byte, 0, 64+len(plain)))
}

// ackTrans marks our packet acknowledged by their iseqno.
func (p *Peer) ackTrans(t *transaction, iseqno uint8) bool {
	for i, pk := range t.pending {
		if pk.oseqno+1 == iseqno {
			t.last = pk.data
			t.pending = append(t.pending[:i], t.pending[i+1:]...)
			return true
		}
	}
	return false
}

// reject answers a packet of an unknown transaction with INVALID
// (Asterisk's dundi_reject), never an INVALID itself.
func (p *Peer) reject(h Header, from netip.AddrPort) {
	if h.Cmd == CmdInvalid {
		return
	}
	r := Header{STrans: h.DTrans, DTrans: h.STrans, ISeqno: h.OSeqno, OSeqno: h.ISeqno, Cmd: CmdInvalid}
	p.stats.invalid.Add(1)
	p.queue(from, r.appendTo(make([]byte, 0, HeaderLen)))
}

func peerName(t *transaction) string {
	if t.peer != nil && !t.peer.eid.IsZero() {
		return t.peer.eid.String()
	}
	return t.addr.String()
}

// expiring is a bounded map whose entries expire in insertion order. It
// holds no pointers when K and V hold none, so its hundreds of thousands
// of entries at a high lookup rate cost the garbage collector nothing.
type expiring[K comparable, V any] struct {
	window time.Duration
	max    int
	m      map[K]expVal[V]
	fifo   []expEntry[K]
	head   int
	seq    uint64
}

type expVal[V any] struct {
	val V
	seq uint64
}

type expEntry[K comparable] struct {
	key     K
	seq     uint64
	expires int64 // unix nanoseconds
}

func newExpiring[K comparable, V any](window time.Duration, max int) *expiring[K, V] {
	return &expiring[K, V]{window: window, max: max, m: map[K]expVal[V]{}}
}

func (c *expiring[K, V]) add(k K, v V, now time.Time) {
	c.seq++
	c.m[k] = expVal[V]{v, c.seq}
	c.fifo = append(c.fifo, expEntry[K]{k, c.seq, now.Add(c.window).UnixNano()})
	for len(c.fifo)-c.head > c.max {
		c.pop()
	}
}

func (c *expiring[K, V]) get(k K) (V, bool) {
	e, ok := c.m[k]
	return e.val, ok
}

func (c *expiring[K, V]) pop() {
	e := c.fifo[c.head]
	c.head++
	if v, ok := c.m[e.key]; ok && v.seq == e.seq {
		delete(c.m, e.key)
	}
	if c.head > 1024 && c.head*2 > len(c.fifo) {
		c.fifo = append(c.fifo[:0:0], c.fifo[c.head:]...)
		c.head = 0
	}
}

func (c *expiring[K, V]) expire(now time.Time) {
	t := now.UnixNano()
	for c.head < len(c.fifo) && t > c.fifo[c.head].expires {
		c.pop()
	}
}
