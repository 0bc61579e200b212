package dundi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// LookupOptions refine a lookup.
type LookupOptions struct {
	// Peers limits the peers asked, by EID; empty asks every peer we may
	// ask in the context (model outbound, the context in include).
	Peers []EID
	// Bypass asks peers not to answer from their caches.
	Bypass bool
	// TTL overrides dundi.ttl for this lookup.
	TTL int
}

// LookupResult is what a lookup found.
type LookupResult struct {
	Results []Result `json:"results"` // merged over all peers, sorted by weight
	// Errors says, per peer that failed, why (a refusal with its cause, a
	// timeout). Peers that answered, even with nothing, are not here.
	Errors []error `json:"-"`
	// Asked is how many peers were asked.
	Asked int `json:"asked"`
	// DontAsk is the prefix a peer said not to ask about (DONTASK hint).
	DontAsk string        `json:"dont_ask,omitempty"`
	Took    time.Duration `json:"took_ns"`
}

// Err summarises the failures when no peer answered at all.
func (r *LookupResult) Err() error {
	if r.Asked > 0 && len(r.Errors) == r.Asked {
		return errors.Join(r.Errors...)
	}
	return nil
}

// request gathers the answers of one lookup's transactions.
type request struct {
	mu       sync.Mutex
	number   string
	context  string
	results  []Result
	errs     []error
	failed   []*transaction // a peer's failure is reported once
	pending  []*transaction // transactions still running (a few: one per peer)
	dontAsk  string
	done     chan struct{}
	finished bool
}

func (r *request) add(t *transaction, m *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp := m.Expiration
	if exp < 0 {
		exp = 3600 // Asterisk's dundi_cache_time
	}
	for _, a := range m.Answers {
		i := slices.IndexFunc(r.results, func(x Result) bool { return x.Tech == a.Tech && x.Dest == a.Dest })
		if i >= 0 {
			r.results[i].Weight = min(r.results[i].Weight, a.Weight)
			continue
		}
		r.results = append(r.results, Result{Answer: a, Expiration: exp, From: t.addr.String()})
	}
	if m.Hint != nil && m.Hint.Flags&HintDontAsk != 0 && len(m.Hint.Data) > len(r.dontAsk) {
		r.dontAsk = m.Hint.Data
	}
}

func (r *request) fail(t *transaction, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.failed, t) {
		r.failed = append(r.failed, t)
		r.errs = append(r.errs, err)
	}
}

// transDone is called when a transaction of the request ends.
func (r *request) transDone(t *transaction, err error) {
	if err != nil {
		r.fail(t, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.pending, t); i >= 0 {
		r.pending = slices.Delete(r.pending, i, i+1)
	}
	if len(r.pending) == 0 && !r.finished {
		r.finished = true
		close(r.done)
	}
}

// Lookup asks peers for number in the DUNDi context dcontext (e164 when
// empty), as Asterisk's dundi lookup does: DPDISCOVER to each peer, then
// wait for every answer or the TTL's time (2 s + 200 ms per hop), then
// cancel what is left. Results are merged (one per tech and destination,
// the lowest weight kept) and sorted by weight. Run must be running.
func (p *Peer) Lookup(ctx context.Context, number, dcontext string, opts LookupOptions) (*LookupResult, error) {
	start := time.Now()
	if dcontext == "" {
		dcontext = "e164"
	}
	if number == "" {
		return nil, fmt.Errorf("dundi lookup: the number is empty")
	}
	ttl := p.cfg.TTL
	if opts.TTL > 0 {
		ttl = opts.TTL
	}
	req := &request{number: number, context: dcontext, done: make(chan struct{})}
	p.mu.Lock()
	select {
	case <-p.quit:
		p.mu.Unlock()
		return nil, ErrClosed
	default:
	}
	var targets []*peerState
	for _, ps := range p.peers {
		if len(opts.Peers) > 0 && !slices.Contains(opts.Peers, ps.eid) {
			continue
		}
		if ps.model&modelOutbound == 0 || !hasContext(ps.include, dcontext) || !ps.addr.IsValid() {
			continue
		}
		if ps.qualify > 0 && ps.reachable < 0 {
			continue // known unreachable or too lagged
		}
		targets = append(targets, ps)
	}
	if len(targets) == 0 {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w in context %q: add a peer with model outbound or symmetric and include: [%s]", ErrNoPeers, dcontext, dcontext)
	}
	var b builder
	b.short(IEVersion, 1)
	b.eid(IEEIDDirect, p.cfg.eid)
	b.str(IECalledNumber, number)
	b.str(IECalledContext, dcontext)
	b.short(IETTL, ttl)
	if opts.Bypass {
		b.empty(IECacheBypass)
	}
	res := &LookupResult{}
	for _, ps := range targets {
		t, err := p.newTrans(ps.addr, ps)
		if err != nil {
			res.Errors = append(res.Errors, err)
			continue
		}
		t.req = req
		req.pending = append(req.pending, t)
		res.Asked++
		p.stats.lookups.Add(1)
		if err := p.send(t, CmdDPDiscover, false, b.ies); err != nil {
			t.req = nil
			req.pending = slices.DeleteFunc(req.pending, func(x *transaction) bool { return x == t })
			p.destroy(t, false)
			res.Errors = append(res.Errors, fmt.Errorf("peer %s: %w", ps.eid, err))
		}
	}
	req.mu.Lock()
	if len(req.pending) == 0 && !req.finished {
		req.finished = true
		close(req.done)
	}
	req.mu.Unlock()
	p.unlockAndFlush()

	wait := time.NewTimer(2*time.Second + time.Duration(ttl)*200*time.Millisecond)
	defer wait.Stop()
	select {
	case <-req.done:
	case <-wait.C:
	case <-ctx.Done():
	case <-p.quit:
	}
	p.mu.Lock()
	req.mu.Lock()
	left := slices.Clone(req.pending)
	req.mu.Unlock()
	for _, t := range left {
		t.req = nil
		req.fail(t, fmt.Errorf("%w at %s in the time allowed", ErrTimeout, t.addr))
		if !t.dead {
			p.send(t, CmdCancel, true, nil)
		}
	}
	p.unlockAndFlush()
	req.mu.Lock()
	res.Results = append(res.Results, req.results...)
	res.Errors = append(res.Errors, req.errs...)
	res.DontAsk = req.dontAsk
	req.mu.Unlock()
	SortResults(res.Results)
	res.Took = time.Since(start)
	if err := ctx.Err(); err != nil && len(res.Results) == 0 {
		return res, err
	}
	return res, nil
}

// PeerStatus is one peer as "dundi show peers" shows it.
type PeerStatus struct {
	EID       string `json:"eid"`
	Addr      string `json:"addr"`
	Dynamic   bool   `json:"dynamic,omitempty"`
	Model     string `json:"model"`
	Encrypted bool   `json:"encrypted"`
	Status    string `json:"status"` // OK (N ms), UNREACHABLE, LAGGED, UNKNOWN, Unmonitored
}

// Peers returns the configured peers and their state.
func (p *Peer) Peers() []PeerStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []PeerStatus
	for _, ps := range p.peers {
		s := PeerStatus{EID: ps.eid.String(), Dynamic: ps.dynamic, Encrypted: ps.encrypted(),
			Model: modelName(ps.model), Status: "Unmonitored"}
		if ps.addr.IsValid() {
			s.Addr = ps.addr.String()
		}
		if ps.qualify > 0 {
			switch {
			case ps.reachable > 0:
				s.Status = fmt.Sprintf("OK (%d ms)", max(ps.lastRTT.Milliseconds(), 1))
			case ps.reachable < 0 && ps.lastRTT > 0:
				s.Status = fmt.Sprintf("LAGGED (%d ms)", ps.lastRTT.Milliseconds())
			case ps.reachable < 0:
				s.Status = "UNREACHABLE"
			default:
				s.Status = "UNKNOWN"
			}
		}
		out = append(out, s)
	}
	return out
}

func modelName(m int) string {
	switch m {
	case modelInbound | modelOutbound:
		return "Symmetric"
	case modelInbound:
		return "Inbound"
	case modelOutbound:
		return "Outbound"
	}
	return "None"
}
