package dundi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Deps are the peer's collaborators.
type Deps struct {
	// Directory answers queries. Nil: the peer only asks, and answers
	// every query with NOAUTH "Unsupported DUNDI Context".
	Directory Directory
	// Logger receives the log lines; slog.Default() when nil.
	Logger *slog.Logger
	// Rand is the randomness for transaction ids, IVs and session keys;
	// crypto/rand when nil.
	Rand io.Reader
	// Trace, when set, sees every frame sent and received, the inner
	// frames of ENCRYPT too (dir is "Tx", "Rx", "    ETx" or "    Erx",
	// as Asterisk's "dundi set debug on" shows them; see Dump). It is
	// called with the peer's lock held: it must not call the peer.
	Trace func(dir string, f *Frame, addr netip.AddrPort)
}

// Peer is a DUNDi peer on one UDP socket: it answers queries from its
// directory and asks other peers (Lookup). New binds the socket; Run
// serves until its context ends or Close.
type Peer struct {
	cfg   *checked
	dir   Directory
	trace func(dir string, f *Frame, addr netip.AddrPort)
	log   *slog.Logger
	drops *dropLog
	rnd   io.Reader
	ids   *mrand.ChaCha8 // transaction ids; guarded by mu
	conn  *net.UDPConn
	batch batchConn // conn, several datagrams per system call
	seed  maphash.Seed
	slots chan struct{} // bounds concurrent directory lookups
	stats counters

	mu      sync.Mutex
	peers   []*peerState
	byEID   map[EID]*peerState
	trans   map[uint16]*transaction
	inbound map[theirKey]*transaction
	closed  *expiring[closedKey, uint16]
	replays *expiring[uint64, struct{}]
	out     []outgoing
	inline  answerScratch   // for answers from an Instant directory
	ctx     context.Context // Run's, for lookups answered in goroutines
	running bool

	// sending is read-held by every flush from before it releases mu
	// until its packets are out; Close takes it before closing the
	// socket. A lookup returns as soon as the read loop releases mu after
	// the final answer, and its caller may close the peer at once: the
	// final ACK queued with that answer must still go out, or the other
	// side resends its answer until it gives up.
	sending sync.RWMutex

	quit      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type outgoing struct {
	to   netip.AddrPort
	data []byte
}

// New checks the configuration, loads the keys, resolves the peers'
// hosts and binds the UDP socket, so every mistake shows here, before Run.
func New(cfg Config, deps Deps) (*Peer, error) {
	c, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	p := &Peer{
		cfg: c, dir: deps.Directory, trace: deps.Trace, log: deps.Logger, rnd: deps.Rand, seed: maphash.MakeSeed(),
		slots: make(chan struct{}, c.MaxLookups), byEID: map[EID]*peerState{},
		trans: map[uint16]*transaction{}, inbound: map[theirKey]*transaction{},
		closed:  newExpiring[closedKey, uint16](c.ReplayWindow, 1<<18),
		replays: newExpiring[uint64, struct{}](c.ReplayWindow, 1<<18),
		quit:    make(chan struct{}), ctx: context.Background(),
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.drops = newDropLog(p.log)
	if p.rnd == nil {
		p.rnd = rand.Reader
	}
	var seed [32]byte
	if _, err := io.ReadFull(p.rnd, seed[:]); err != nil {
		return nil, fmt.Errorf("dundi: seed transaction ids: %w", err)
	}
	p.ids = mrand.NewChaCha8(seed)
	keys := map[string]any{}
	for _, spec := range c.peers {
		ps := &peerState{peerSpec: spec}
		if err := p.loadPeerKeys(ps, keys); err != nil {
			return nil, err
		}
		if spec.host != "" {
			host, port, _ := splitHostPort(spec.host, DefaultPort)
			ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, fmt.Sprint(port)))
			if err != nil {
				return nil, fmt.Errorf("%w: peer %s: cannot find host %q: %v", ErrConfig, spec.cfg.EID, spec.host, err)
			}
			ps.addr = ua.AddrPort()
			ps.addr = netip.AddrPortFrom(ps.addr.Addr().Unmap(), ps.addr.Port())
		}
		p.peers = append(p.peers, ps)
		if !ps.eid.IsZero() {
			p.byEID[ps.eid] = ps
		}
	}
	ua, err := net.ResolveUDPAddr("udp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dundi.addr %q: %v", ErrConfig, c.Addr, err)
	}
	if p.conn, err = net.ListenUDP("udp", ua); err != nil {
		return nil, fmt.Errorf("dundi.addr %s: %w (is Asterisk's pbx_dundi or another agent bound to it? change its port or dundi.addr)", c.Addr, err)
	}
	// Room for bursts from many Asterisk servers at once (the kernel caps
	// it at net.core.rmem_max); a drop costs a retransmission second.
	p.conn.SetReadBuffer(4 << 20)
	p.batch = newBatchConn(p.conn)
	return p, nil
}

// loadPeerKeys loads a peer's public key and our private key toward it,
// each file once.
func (p *Peer) loadPeerKeys(ps *peerState, cache map[string]any) error {
	if ps.cfg.PublicKey == "" {
		return nil
	}
	if k, ok := cache["pub:"+ps.cfg.PublicKey]; ok {
		ps.pub = k.(*rsa.PublicKey)
	} else {
		k, err := LoadPublicKey(ps.cfg.PublicKey)
		if err != nil {
			return fmt.Errorf("peer %s public_key: %w", ps.cfg.EID, err)
		}
		ps.pub, cache["pub:"+ps.cfg.PublicKey] = k, k
	}
	path := ps.cfg.PrivateKey
	if path == "" {
		path = p.cfg.PrivateKey
	}
	if k, ok := cache["priv:"+path]; ok {
		ps.priv = k.(*rsa.PrivateKey)
		return nil
	}
	k, err := LoadPrivateKey(path)
	if err != nil {
		return fmt.Errorf("peer %s private key: %w", ps.cfg.EID, err)
	}
	ps.priv, cache["priv:"+path] = k, k
	return nil
}

// EID returns the peer's own entity id.
func (p *Peer) EID() EID { return p.cfg.eid }

// Addr returns the bound UDP address (useful with port 0).
func (p *Peer) Addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Stats returns the counters.
func (p *Peer) Stats() Stats {
	s := p.stats.snapshot()
	p.mu.Lock()
	s.Transactions = len(p.trans)
	p.mu.Unlock()
	return s
}

// Run reads packets and drives retransmissions, qualifies and
// registrations until ctx ends or Close is called; then it closes the
// socket and returns nil. Lookups need Run to be running.
func (p *Peer) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("dundi: Run called twice")
	}
	p.running, p.ctx = true, ctx
	p.mu.Unlock()
	p.wg.Add(1)
	go p.readLoop()
	tick := p.cfg.RetransTimer / 10
	tick = min(max(tick, 5*time.Millisecond), 50*time.Millisecond)
	if p.cfg.AckDelay > 0 {
		tick = min(tick, max(p.cfg.AckDelay/2, 5*time.Millisecond))
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	p.log.Info("dundi: listening", "addr", p.Addr(), "eid", p.cfg.eid, "peers", len(p.peers))
	for {
		select {
		case <-ctx.Done():
			p.Close()
			p.wg.Wait()
			return nil
		case <-p.quit:
			p.wg.Wait()
			return nil
		case now := <-t.C:
			p.maintain(now)
		}
	}
}

// Close stops the peer and closes its socket. Safe to call twice.
func (p *Peer) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.quit)
		p.sending.Lock() // the packets of flushes in progress go out first
		err = p.conn.Close()
		p.sending.Unlock()
		p.mu.Lock()
		for _, t := range p.trans {
			if t.req != nil {
				t.req.transDone(t, ErrClosed)
				t.req = nil
			}
		}
		p.mu.Unlock()
	})
	return err
}

func (p *Peer) readLoop() {
	defer p.wg.Done()
	r := newBatchReader(p.batch)
	var scratch serveScratch
	for {
		pkts, err := r.read()
		p.serve(pkts, &scratch)
		if err != nil {
			select {
			case <-p.quit:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// e.g. ICMP errors surfaced on the socket
		}
	}
}

// queue adds a packet to send once the lock is released.
func (p *Peer) queue(to netip.AddrPort, data []byte) {
	if p.trace != nil {
		if f, err := DecodeFrame(data); err == nil {
			p.trace("Tx", f, to)
		}
	}
	p.out = append(p.out, outgoing{to, data})
}

// unlockAndFlush releases mu and sends what was queued under it, so no
// system call is made with the lock held.
func (p *Peer) unlockAndFlush() {
	out := p.out
	p.out = nil
	if len(out) == 0 {
		p.mu.Unlock()
		return
	}
	p.sending.RLock()
	defer p.sending.RUnlock()
	p.mu.Unlock()
	p.writeAll(out)
}

// handlePacket is everything that happens to one received packet.
func (p *Peer) handlePacket(b []byte, from netip.AddrPort) {
	p.serve([]received{{b, from}}, &serveScratch{})
}

// decoded is a received packet that passed the framing checks.
type decoded struct {
	*rx
	raw  []byte
	from netip.AddrPort
}

// rx is a received packet's frame and message in one allocation.
type rx struct {
	f   Frame
	m   Message
	ies [8]IE
}

// serveScratch is what serve reuses from one read to the next: nothing
// keeps a received frame or message once it is handled (a lookup copies
// the answers, a session key is cloned), so their memory is used again,
// unless a Trace hook saw them.
type serveScratch struct {
	ok   []decoded
	free []*rx
}

// serve handles the packets of one read: each is decoded and checked
// outside the lock, then all are handled under one lock and what they
// queue goes out together.
func (p *Peer) serve(pkts []received, s *serveScratch) {
	s.ok = s.ok[:0]
	for _, pk := range pkts {
		var r *rx
		if n := len(s.free); n > 0 {
			r, s.free = s.free[n-1], s.free[:n-1]
		} else {
			r = &rx{}
		}
		if p.decode(r, pk.data, pk.from) {
			s.ok = append(s.ok, decoded{r, pk.data, pk.from})
		} else {
			*r = rx{}
			s.free = append(s.free, r)
		}
	}
	if len(s.ok) == 0 {
		return
	}
	p.mu.Lock()
	for _, d := range s.ok {
		p.handleFrame(&d.f, &d.m, d.raw, d.from)
	}
	p.unlockAndFlush()
	for i, d := range s.ok {
		if p.trace == nil {
			*d.rx = rx{}
			s.free = append(s.free, d.rx)
		}
		s.ok[i] = decoded{}
	}
}

// decode checks a packet's size and framing into r; a bad one is counted
// and dropped.
func (p *Peer) decode(r *rx, b []byte, from netip.AddrPort) bool {
	p.stats.received.Add(1)
	if len(b) > MaxPacket {
		p.stats.oversized.Add(1)
		p.drops.warn("oversized", from, fmt.Errorf("more than %d bytes", MaxPacket))
		return false
	}
	err := r.f.decode(b, r.ies[:0])
	if err == nil {
		if err = r.m.parse(&r.f); err == nil {
			return true
		}
	}
	if errors.Is(err, ErrTruncated) {
		p.stats.truncated.Add(1)
		p.drops.warn("truncated", from, err)
	} else {
		p.stats.malformed.Add(1)
		p.drops.warn("malformed", from, err)
	}
	return false
}

// handleFrame is Asterisk's handle_frame: match the transaction, check the
// sequence numbers, acknowledge, hand the command on. Called with mu held.
func (p *Peer) handleFrame(f *Frame, m *Message, raw []byte, from netip.AddrPort) {
	if p.trace != nil {
		p.trace("Rx", f, from)
	}
	t := p.findTrans(f.Header, from)
	if t == nil {
		if ours, ok := p.closed.get(keyOf(from, f.Src())); ok && f.Dst() == ours {
			// A late copy for a finished dialog: it can only be their
			// last packet again (our final ACK was lost; an ENCRYPT's
			// final flag is inside it), so acknowledge it again.
			p.stats.duplicates.Add(1)
			if f.Cmd != CmdACK && f.Cmd != CmdInvalid {
				h := Header{STrans: ours, DTrans: f.Src(), ISeqno: f.OSeqno + 1, OSeqno: f.ISeqno, Cmd: CmdACK, Final: true}
				p.queue(from, h.appendTo(nil))
			}
			return
		}
		if !opensTrans(f.Cmd) || f.Src() == 0 || f.DTrans != 0 {
			p.reject(f.Header, from)
			return
		}
		var h uint64
		if f.Cmd == CmdEncrypt {
			h = p.firstHash(raw)
			if _, seen := p.replays.get(h); seen {
				p.stats.replayed.Add(1)
				p.drops.warn("replayed", from, fmt.Errorf("an ENCRYPT repeats the first packet of a finished transaction"))
				return
			}
		}
		if p.refuseStranger(f, m, from) {
			return
		}
		var err error
		if t, err = p.newTrans(from, nil); err != nil {
			p.drops.warn("no transaction id", from, err)
			return
		}
		t.inbound, t.dtrans, t.firstHash = true, f.Src(), h
		p.inbound[theirKey{from, t.dtrans}] = t
	}
	t.touched = time.Now()
	switch {
	case f.OSeqno == t.iseqno:
		if p.ackTrans(t, f.ISeqno) && t.final {
			p.destroy(t, false)
			return
		}
		final := f.Final
		deferAck := false
		if f.Cmd != CmdACK {
			t.oiseqno = t.iseqno
			t.iseqno++
			final, deferAck = p.handleCommand(t, f, m, from, false)
		}
		if !t.dead && t.aseqno != t.iseqno && !deferAck {
			p.sendAck(t, final)
		}
		t.last = nil
		if final {
			p.destroy(t, false)
		}
	case f.OSeqno == t.oiseqno:
		p.stats.duplicates.Add(1)
		p.sendAck(t, false)
	default:
		p.stats.outOfWindow.Add(1)
		p.drops.warn("out of window", from, fmt.Errorf("sequence %d, expected %d", f.OSeqno, t.iseqno))
	}
}

// refuseStranger answers a first packet from an entity we do not know
// without keeping any state: one final NOAUTH (or ENCREJ), not
// retransmitted, so a flood of strangers cannot fill the transaction
// table. Their ACK, or a copy of their packet, finds the closed entry.
func (p *Peer) refuseStranger(f *Frame, m *Message, from netip.AddrPort) bool {
	resp := responseTo(f.Cmd)
	if resp == 0 {
		return false
	}
	if len(m.EIDs) > 0 && p.byEID[m.EIDs[0]] != nil {
		return false
	}
	id, err := p.newTransID()
	if err != nil {
		return true
	}
	var b builder
	if resp == CmdEncRej {
		p.stats.badCrypto.Add(1)
		p.drops.warn("bad session key", from, fmt.Errorf("%w: unknown entity %s", ErrDecrypt, firstEID(m)))
	} else {
		p.stats.noAuth.Add(1)
		p.log.Info("dundi: query from an unknown entity", "from", from, "eid", firstEID(m))
		b.cause(CauseNoAuth, "")
	}
	h := Header{STrans: id, DTrans: f.Src(), ISeqno: f.OSeqno + 1, Cmd: resp, Final: true}
	if data, err := (&Frame{Header: h, IEs: b.ies}).Encode(nil); err == nil {
		p.queue(from, data)
	}
	p.closed.add(keyOf(from, f.Src()), id, time.Now())
	return true
}

// firstHash identifies the first packet of an encrypted dialog for replay
// detection: its random IV makes it unique wherever it comes from. Clear
// first packets are not remembered: a peer's random transaction id and a
// popular number recur within seconds, so a repeat is a new query, and
// whoever can replay a clear packet can forge one anyway.
func (p *Peer) firstHash(raw []byte) uint64 {
	if v := maphash.Bytes(p.seed, raw); v != 0 {
		return v
	}
	return 1
}

// maintain runs every tick: retransmissions, delayed ACKs, idle
// transactions, expired caches, qualify and registration.
func (p *Peer) maintain(now time.Time) {
	p.mu.Lock()
	for _, t := range p.trans {
		p.maintainTrans(t, now)
	}
	p.closed.expire(now)
	p.replays.expire(now)
	for _, ps := range p.peers {
		p.maintainPeer(ps, now)
	}
	p.unlockAndFlush()
}

// idleLimit is how long a transaction may see no packet at all before it
// is dropped (a peer that vanished between our ACK and its next packet).
const idleLimit = 30 * time.Second

func (p *Peer) maintainTrans(t *transaction, now time.Time) {
	for i := range t.pending {
		pk := &t.pending[i]
		if now.Before(pk.next) {
			continue
		}
		if pk.left <= 0 {
			if !t.qual {
				p.log.Info("dundi: max retries exceeded", "peer", peerName(t), "addr", t.addr, "oseqno", pk.oseqno, "trans", t.strans)
			}
			p.destroy(t, true)
			return
		}
		pk.left--
		pk.next = now.Add(p.cfg.RetransTimer)
		p.stats.retransmits.Add(1)
		p.queue(t.addr, pk.data)
	}
	if !t.ackDue.IsZero() && !now.Before(t.ackDue) {
		t.ackDue = time.Time{}
		if t.aseqno != t.iseqno {
			p.sendAck(t, false)
		}
	}
	if len(t.pending) == 0 && !t.busy && now.Sub(t.touched) > idleLimit {
		p.destroy(t, false)
	}
}
