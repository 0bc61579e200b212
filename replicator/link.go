package replicator

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/backoff"
	"github.com/pbxtopo/pbxtopo/store"
)

// LinkStatus is what `pbxtopo repl status` shows for one peer cluster of
// the topology: the link this replica pulls it through, or why there is
// none.
type LinkStatus struct {
	Peer    string   `json:"peer"`
	Addr    string   `json:"addr,omitempty"`
	Mode    Mode     `json:"mode"`
	Scopes  []string `json:"scopes"`
	OwnOnly bool     `json:"own_changes_only,omitempty"`
	// State is one of the Link* states; Detail says why, in words.
	State         string    `json:"state"`
	Detail        string    `json:"detail,omitempty"`
	Connected     bool      `json:"connected"`
	LastContact   time.Time `json:"last_contact,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	Behind        uint64    `json:"changes_behind"`
	SecondsBehind float64   `json:"seconds_behind"`
	BytesPerSec   float64   `json:"bytes_per_sec"`
	Applied       uint64    `json:"changes_applied"`
	Duplicates    uint64    `json:"duplicates"`
	Conflicts     uint64    `json:"conflicts"`
	Snapshots     uint64    `json:"snapshots"`
	Errors        uint64    `json:"errors"`
	// Protocol is the version the link speaks (the newest both ends
	// know); ClockOffset the peer's clock minus ours at its last answer
	// (protocol 2), request time included.
	Protocol    uint16  `json:"protocol,omitempty"`
	ClockOffset float64 `json:"clock_offset_seconds,omitempty"`
}

// The states of a peer in LinkStatus.
const (
	LinkConnected = "connected" // pulled from directly; the last pull worked
	LinkFailing   = "failing"   // pulled from directly; the last pull failed
	LinkWaiting   = "waiting"   // pulled from directly; no answer yet
	LinkDead      = "dead"      // no node of the cluster is alive in the membership
	LinkIndirect  = "indirect"  // alive, but the topology has its changes come through another cluster
)

type linkState struct {
	LinkStatus
	summary     store.Summary // the peer's summary at its last answer
	behindSince time.Time     // when this link last stopped being caught up
	rateAt      time.Time
	lastAE      time.Time
	stopped     bool // the last apply waited for a change from another stream
}

// Status returns the state of every peer cluster of the topology (the
// clusters of the store's cluster table, the ring order and the
// membership, less the decommissioned ones), sorted by peer. Behind
// counts the changes a peer is known to have that this replica lacks:
// what it said it holds at its last answer, and of its own changes, what
// any other peer said it holds; so a stalled link shows how far behind it
// is while others carry news of the peer.
func (r *Replicator) Status() []LinkStatus {
	peers := r.peerNames()
	alive := map[string]bool{}
	for _, c := range r.liveClusters() {
		alive[c.Name] = c.Alive
	}
	mine := r.st.Summary()
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updateBehind(mine, now)
	for _, p := range peers {
		r.link(p)
	}
	out := make([]LinkStatus, 0, len(r.links))
	for peer, l := range r.links {
		if !slices.Contains(peers, peer) {
			continue
		}
		s := l.LinkStatus
		s.Scopes = slices.Clone(s.Scopes)
		if !l.behindSince.IsZero() && s.Behind > 0 {
			s.SecondsBehind = now.Sub(l.behindSince).Seconds()
		}
		s.State, s.Detail = r.linkState(l, alive[peer])
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b LinkStatus) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// linkState names the state of a peer; r.mu is held.
func (r *Replicator) linkState(l *linkState, alive bool) (string, string) {
	if src, ok := r.sources[l.Peer]; ok {
		switch {
		case l.LastError != "" && !l.Connected:
			return LinkFailing, l.LastError
		case l.LastContact.IsZero():
			return LinkWaiting, "pulling from " + strings.Join(src.Addrs, ", ") + ": no answer yet"
		}
		return LinkConnected, ""
	}
	if !alive {
		return LinkDead, "no node of " + l.Peer + " is alive in the membership: nothing is pulled from it until one is"
	}
	var via []string
	for c := range r.sources {
		via = append(via, c)
	}
	slices.Sort(via)
	if len(via) == 0 {
		return LinkIndirect, "in " + string(r.topo.Mode) + " mode this replica pulls from no cluster now"
	}
	return LinkIndirect, "in " + string(r.topo.Mode) + " mode its changes come through " + strings.Join(via, ", ")
}

// updateBehind recounts what each peer is known to have that this replica
// lacks; r.mu is held.
func (r *Replicator) updateBehind(mine store.Summary, now time.Time) {
	// Of its own streams, a peer has at least what anyone says they hold.
	own := store.Summary{}
	for _, l := range r.links {
		for s, seq := range l.summary {
			own[s] = max(own[s], seq)
		}
	}
	for peer, l := range r.links {
		scopes := l.Scopes
		if len(scopes) == 0 {
			scopes = []string{""}
		}
		// A source pulled for every origin forwards them all; any other
		// peer is counted for its own changes.
		full := !l.OwnOnly && l.summary != nil
		if src, ok := r.sources[peer]; ok {
			full = len(src.Origins) == 0
		} else if r.sources != nil {
			full = false
		}
		filter := want(scopes, []string{peer})
		if full {
			filter = want(scopes, nil)
		}
		// What the peer is known to have: its summary, and of its own
		// streams what anyone says they hold (counted without building
		// the union: this runs on every pull).
		var behind uint64
		count := func(s store.Stream, seq uint64) {
			if seq > mine[s] && filter(s) {
				behind += seq - mine[s]
			}
		}
		for s, seq := range l.summary {
			if s.Cluster() == peer {
				seq = max(seq, own[s])
			}
			count(s, seq)
		}
		for s, seq := range own {
			if _, counted := l.summary[s]; !counted && s.Cluster() == peer {
				count(s, seq)
			}
		}
		l.Behind = behind
		if behind == 0 {
			l.behindSince = time.Time{}
		} else if l.behindSince.IsZero() {
			l.behindSince = now
		}
	}
}

func (r *Replicator) link(peer string) *linkState {
	l, ok := r.links[peer]
	if !ok {
		l = &linkState{LinkStatus: LinkStatus{Peer: peer}}
		r.links[peer] = l
	}
	return l
}

// NewPullRequest builds the next pull for a source. A mesh link asks for
// the peer's own changes, and for every origin at the anti-entropy
// interval or when the last batch waited for a change from elsewhere.
func (r *Replicator) NewPullRequest(src Source) *PullRequest {
	now := r.now()
	r.mu.Lock()
	l := r.link(src.Cluster)
	origins := src.Origins
	if len(origins) > 0 && (l.stopped || now.Sub(l.lastAE) >= r.cfg.AntiEntropy) {
		origins = nil
		l.lastAE = now
	}
	r.mu.Unlock()
	return &PullRequest{From: r.cfg.Cluster, Scopes: src.Scopes, Origins: origins,
		Summary: r.st.Summary(), MaxBytes: uint32(r.cfg.MaxBatchBytes), MaxVersion: r.maxProtocol()}
}

// PullOutcome tells the loop what to do next.
type PullOutcome struct {
	Applied      int
	CaughtUp     bool // nothing more is waiting at the peer
	NeedSnapshot bool
}

// HandlePull applies a peer's answer to req. Applying is idempotent: a
// duplicated, reordered or replayed answer changes nothing.
func (r *Replicator) HandlePull(ctx context.Context, src Source, req *PullRequest, resp *PullResponse) (PullOutcome, error) {
	if resp.From != src.Cluster {
		return PullOutcome{}, fmt.Errorf("%w: asked %s, answered by %s", ErrMessage, src.Cluster, resp.From)
	}
	var res store.ApplyResult
	if len(resp.Changes) > 0 {
		var err error
		if res, err = r.st.Apply(ctx, resp.Changes); err != nil {
			r.noteError(src, err)
			return PullOutcome{}, err
		}
	}
	mine := r.st.Summary()
	now := r.now()
	r.mu.Lock()
	l := r.link(src.Cluster)
	l.Mode = r.topo.Mode
	l.Scopes = src.Scopes
	l.OwnOnly = len(src.Origins) > 0
	l.Connected = true
	l.LastContact = now
	l.Protocol = max(resp.Version, MinProtocolVersion)
	if !resp.ServerTime.IsZero() {
		l.ClockOffset = resp.ServerTime.Sub(now).Seconds()
	}
	l.LastError = ""
	l.summary = resp.Summary
	l.Applied += uint64(res.Applied)
	l.Duplicates += uint64(res.Duplicates)
	l.Conflicts += uint64(res.Concurrent)
	l.stopped = res.Stopped
	r.updateBehind(mine, now)
	bytes := 0
	for _, c := range resp.Changes {
		bytes += len(c.Value) + len(c.Key) + 64
	}
	if dt := now.Sub(l.rateAt).Seconds(); !l.rateAt.IsZero() && dt > 0 {
		// An exponential moving average over about ten seconds.
		a := min(dt/10, 1)
		l.BytesPerSec = (1-a)*l.BytesPerSec + a*float64(bytes)/dt
	}
	l.rateAt = now
	r.mu.Unlock()
	if res.Concurrent > 0 {
		r.log.Info("concurrent writes: conflict recorded", "peer", src.Cluster, "changes", res.Concurrent)
	}
	return PullOutcome{Applied: res.Applied, CaughtUp: !resp.More && !res.Stopped && !resp.NeedSnapshot,
		NeedSnapshot: resp.NeedSnapshot}, nil
}

func (r *Replicator) noteError(src Source, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.link(src.Cluster)
	l.Connected = false
	l.LastError = err.Error()
	l.Errors++
}

// CatchUp takes a full-state transfer from a peer that pruned what this
// replica lacks, page by page; fetch asks the peer for one page.
func (r *Replicator) CatchUp(ctx context.Context, src Source, fetch func(*SnapshotRequest) (*store.SnapshotPage, error)) error {
	filter := store.TableFilter{Scopes: src.Scopes, SiteOnly: r.Topology().SiteOnlyTables()}
	var S store.Summary
	after := ""
	pages := 0
	for {
		p, err := fetch(&SnapshotRequest{From: r.cfg.Cluster, Scopes: src.Scopes, After: after, MaxBytes: uint32(r.cfg.MaxBatchBytes), MaxVersion: r.maxProtocol()})
		if err != nil {
			return fmt.Errorf("snapshot from %s: %w", src.Cluster, err)
		}
		if p.After != after {
			return fmt.Errorf("%w: snapshot page starts after %q, asked %q", ErrMessage, p.After, after)
		}
		if S == nil {
			S = p.Summary
		}
		if err := r.st.MergeSnapshot(ctx, p, S, filter); err != nil {
			return fmt.Errorf("snapshot from %s: %w", src.Cluster, err)
		}
		pages++
		if p.Done {
			break
		}
		if p.Last <= after {
			return fmt.Errorf("%w: snapshot page does not advance", ErrMessage)
		}
		after = p.Last
	}
	r.mu.Lock()
	r.link(src.Cluster).Snapshots++
	r.mu.Unlock()
	r.log.Info("caught up from a snapshot", "peer", src.Cluster, "pages", pages)
	return nil
}

// prefetch is the pull that follows an answer being applied, sent before
// the apply ends.
type prefetch struct {
	addr   string
	req    *PullRequest
	done   chan struct{}
	resp   *PullResponse
	err    error
	cancel context.CancelFunc
}

// prefetchAfter asks addr for what follows resp while resp is applied, so
// a link that is behind waits for its peer and for its own commits at once
// instead of in turn. The request is the one the loop would make next (the
// store's summary now, the anti-entropy schedule), raised by resp's
// changes: it assumes resp applies whole, and the caller uses the answer
// only if it did (follows), otherwise drops it. Using it regardless would
// be safe too (applying is idempotent and causal), only wasted.
func (r *Replicator) prefetchAfter(ctx context.Context, src Source, addr string, resp *PullResponse) *prefetch {
	next := r.NewPullRequest(src)
	for _, c := range resp.Changes {
		next.Summary[c.Dot.Stream] = max(next.Summary[c.Dot.Stream], c.Dot.Seq)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetch{addr: addr, req: next, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		p.resp, p.err = r.tr.Pull(ctx, addr, p.req)
	}()
	return p
}

// follows reports whether the store now holds everything the prefetch's
// request assumed.
func (p *prefetch) follows(mine store.Summary) bool {
	for st, seq := range p.req.Summary {
		if mine[st] < seq {
			return false
		}
	}
	return true
}

// drop abandons the prefetch.
func (p *prefetch) drop() {
	if p != nil {
		p.cancel()
	}
}

// runLink pulls from one source until ctx ends: long polls while caught
// up, backs off after errors, tries the source's nodes in turn. While the
// peer says more is waiting, the next pull is sent as the last answer is
// applied (prefetchAfter).
func (r *Replicator) runLink(ctx context.Context, src Source) {
	retry := backoff.Backoff{Min: r.cfg.RetryMin, Max: r.cfg.RetryMax}
	caughtUp := false
	var next *prefetch
	defer func() { next.drop() }()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if len(src.Addrs) == 0 {
			return
		}
		addr := src.Addrs[attempt%len(src.Addrs)]
		var req *PullRequest
		var resp *PullResponse
		var err error
		if next != nil && next.addr == addr && next.follows(r.st.Summary()) {
			<-next.done
			req, resp, err = next.req, next.resp, next.err
			next.cancel() // the answer is read: release its context
			next = nil
		} else {
			next.drop()
			next = nil
			req = r.NewPullRequest(src)
			if caughtUp && len(req.Origins) == len(src.Origins) {
				req.Wait = r.cfg.PullWait
				if len(src.Origins) > 0 {
					// Wake up in time for the next anti-entropy pull.
					req.Wait = min(req.Wait, r.cfg.AntiEntropy)
				}
			}
			r.mu.Lock()
			r.link(src.Cluster).Addr = addr
			r.mu.Unlock()
			resp, err = r.tr.Pull(ctx, addr, req)
		}
		var out PullOutcome
		if err == nil {
			if resp.More && !resp.NeedSnapshot && len(resp.Changes) > 0 {
				next = r.prefetchAfter(ctx, src, addr, resp)
			}
			out, err = r.HandlePull(ctx, src, req, resp)
		}
		if err == nil && out.NeedSnapshot {
			err = r.CatchUp(ctx, src, func(q *SnapshotRequest) (*store.SnapshotPage, error) { return r.tr.Snapshot(ctx, addr, q) })
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.noteError(src, err)
			wait := retry.Next()
			r.log.Warn("pull failed", "peer", src.Cluster, "addr", addr, "err", err, "retry_in", wait)
			caughtUp = false
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			continue
		}
		retry.Reset()
		caughtUp = out.CaughtUp
		attempt-- // stay on the node that answered
	}
}
