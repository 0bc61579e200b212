package replicator

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// Status replication (DESIGN.md, "Status"): live status (registrations,
// device and agent state, health) is not configuration. It travels as
// coalesced snapshots: every StatusInterval the replicator asks each
// source for the status entries that changed since the last local
// sequence number it saw there, and merges them (newest clock wins, never
// a conflict, never this cluster's own keys). Only the latest value of a
// key is shipped, however often it changed in between.

// StatusStore is what status replication needs of the store. It is
// optional: a store without it (a simulation) replicates no status.
type StatusStore interface {
	StatusSince(after uint64, want func(owner string) bool, maxBytes int) (*store.StatusPage, error)
	MergeStatus(ctx context.Context, entries []store.StatusEntry) (int, error)
}

// StatusTransport carries status requests. It is optional, like
// StatusStore.
type StatusTransport interface {
	Status(ctx context.Context, addr string, req *StatusRequest) (*StatusResponse, error)
}

var (
	_ StatusStore     = (*store.Store)(nil)
	_ StatusTransport = (*HTTPTransport)(nil)
)

// StatusRequest asks a peer for the status entries changed since After.
type StatusRequest struct {
	From string // the requesting cluster
	// Epoch and After are the peer's epoch and sequence number the
	// requester saw last (0, 0 the first time).
	Epoch, After uint64
	Origins      []string // only entries owned by these clusters; empty: every owner
	MaxBytes     uint32
}

// StatusResponse is one page of a peer's status changes.
type StatusResponse struct {
	From    string
	Epoch   uint64 // the answering store's epoch: a change means start again
	Head    uint64 // its last status sequence number
	Next    uint64 // the After of the next request
	More    bool   // the page was cut short
	Entries []store.StatusEntry
}

// Wire types of the status messages, apart from the record messages'.
const (
	msgStatusRequest  byte = 0x40
	msgStatusResponse byte = 0x41
)

const pathStatus = "/repl/v1/status"

// EncodeStatusRequest returns the wire form of q.
func EncodeStatusRequest(q *StatusRequest) []byte {
	var e enc
	e.String(q.From)
	e.Uvarint(q.Epoch)
	e.Uvarint(q.After)
	e.Strings(q.Origins)
	e.Uvarint(uint64(q.MaxBytes))
	return frame(msgStatusRequest, e.B)
}

// DecodeStatusRequest reads a status request from r.
func DecodeStatusRequest(r io.Reader, max int) (*StatusRequest, error) {
	body, err := readFrame(r, msgStatusRequest, max)
	if err != nil {
		return nil, fmt.Errorf("status request: %w", err)
	}
	d := newDec(body)
	q := &StatusRequest{From: d.String(256, "sender"), Epoch: d.Uvarint(), After: d.Uvarint(), Origins: d.Strings(4096, 256, "names")}
	q.MaxBytes = uint32(min(d.Uvarint(), 1<<31))
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("status request: %w", err)
	}
	return q, nil
}

// EncodeStatusResponse returns the wire form of p.
func EncodeStatusResponse(p *StatusResponse) []byte {
	var e enc
	e.String(p.From)
	e.Uvarint(p.Epoch)
	e.Uvarint(p.Head)
	e.Uvarint(p.Next)
	e.Bool(p.More)
	e.Bytes(store.AppendStatusEntries(nil, p.Entries))
	return frame(msgStatusResponse, e.B)
}

// DecodeStatusResponse reads a status response from r.
func DecodeStatusResponse(r io.Reader, max int) (*StatusResponse, error) {
	body, err := readFrame(r, msgStatusResponse, max)
	if err != nil {
		return nil, fmt.Errorf("status response: %w", err)
	}
	d := newDec(body)
	p := &StatusResponse{From: d.String(256, "sender"), Epoch: d.Uvarint(), Head: d.Uvarint(), Next: d.Uvarint(), More: d.Bool()}
	entries := d.Raw(len(body), "status entries")
	if d.Err == nil {
		if p.Entries, err = store.DecodeStatusEntries(entries); err != nil {
			d.Fail("status entries: %v", err)
		}
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("status response: %w", err)
	}
	return p, nil
}

// ServeStatus answers a peer's status request. A requester that saw
// another epoch starts again from 0; one that saw more than this node has
// applied (a lagging follower of the same cluster answers) gets nothing
// and keeps its mark.
func (r *Replicator) ServeStatus(ctx context.Context, req *StatusRequest) (*StatusResponse, error) {
	ss, ok := r.st.(StatusStore)
	if !ok {
		return nil, fmt.Errorf("%w: this replica keeps no status", ErrMessage)
	}
	if req.From == r.cfg.Cluster {
		return nil, fmt.Errorf("%w: status request from cluster %s to itself", ErrMessage, req.From)
	}
	max := int(req.MaxBytes)
	if max <= 0 || max > r.cfg.MaxBatchBytes {
		max = r.cfg.MaxBatchBytes
	}
	// The requester's own entries are left out: it would ignore them (a
	// cluster is the only writer of its keys), so a ring does not carry
	// each entry all the way round.
	want := func(owner string) bool {
		return owner != req.From && (len(req.Origins) == 0 || slices.Contains(req.Origins, owner))
	}
	p, err := ss.StatusSince(req.After, want, max)
	if err != nil {
		return nil, err
	}
	switch {
	case p.Epoch == req.Epoch && req.After > p.Head:
		p = &store.StatusPage{Epoch: p.Epoch, Head: p.Head, Next: req.After}
	case p.Epoch != req.Epoch && req.After != 0:
		if p, err = ss.StatusSince(0, want, max); err != nil {
			return nil, err
		}
	}
	return &StatusResponse{From: r.cfg.Cluster, Epoch: p.Epoch, Head: p.Head, Next: p.Next, More: p.More, Entries: p.Entries}, nil
}

// handleStatus serves pathStatus on mux.
func (r *Replicator) handleStatus(mux *http.ServeMux) {
	mux.HandleFunc("POST "+pathStatus, func(w http.ResponseWriter, req *http.Request) {
		id, ok := r.peer(w, req)
		if !ok {
			return
		}
		q, err := DecodeStatusRequest(http.MaxBytesReader(w, req.Body, 1<<16), 1<<16)
		if err == nil && q.From != id.Cluster {
			err = fmt.Errorf("%w: certificate of cluster %s, status request from %q", ErrMessage, id.Cluster, q.From)
		}
		if err != nil {
			r.refuse(w, req, id, err)
			return
		}
		resp, err := r.ServeStatus(req.Context(), q)
		if err != nil {
			r.refuse(w, req, id, err)
			return
		}
		b := EncodeStatusResponse(resp)
		r.status.served(q.From, len(resp.Entries), len(b))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
}

// Status implements StatusTransport.
func (t *HTTPTransport) Status(ctx context.Context, addr string, req *StatusRequest) (*StatusResponse, error) {
	body, err := t.post(ctx, "https://"+addr+pathStatus, EncodeStatusRequest(req), 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return DecodeStatusResponse(body, t.maxMessage)
}

// StatusReporter reports status replication (`pbxtopo repl status`).
type StatusReporter interface {
	StatusStats() []StatusLinkStats
}

var _ StatusReporter = (*Replicator)(nil)

// StatusLinkStats counts the status one link moved.
type StatusLinkStats struct {
	Peer      string    `json:"peer"`
	Pulls     uint64    `json:"pulls"`            // requests answered
	Received  uint64    `json:"entries_received"` // entries in the answers
	Merged    uint64    `json:"entries_merged"`   // of those, newer than what was here
	Served    uint64    `json:"entries_served"`   // entries this replica sent the peer
	BytesOut  uint64    `json:"bytes_served"`     // their wire size
	Epoch     uint64    `json:"-"`
	Next      uint64    `json:"mark"` // the peer's sequence number seen last
	LastPull  time.Time `json:"last_pull,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	owners    string    // the Origins the mark was taken with
}

// statusLinks holds the marks and counters of status replication.
type statusLinks struct {
	mu     sync.Mutex
	links  map[string]*StatusLinkStats
	relays map[string]*relayMark // by the peer relaying
}

func (s *statusLinks) get(peer string) *StatusLinkStats {
	if s.links == nil {
		s.links = map[string]*StatusLinkStats{}
	}
	l, ok := s.links[peer]
	if !ok {
		l = &StatusLinkStats{Peer: peer}
		s.links[peer] = l
	}
	return l
}

func (s *statusLinks) served(peer string, entries, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.get(peer)
	l.Served += uint64(entries)
	l.BytesOut += uint64(bytes)
}

// StatusStats returns the counters of every status link, sorted by peer.
func (r *Replicator) StatusStats() []StatusLinkStats {
	r.status.mu.Lock()
	defer r.status.mu.Unlock()
	out := make([]StatusLinkStats, 0, len(r.status.links))
	for _, l := range r.status.links {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b StatusLinkStats) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// SyncStatus pulls from src every status change since the last pull (as
// many pages as there are) and merges them. It returns the number of
// entries merged.
func (r *Replicator) SyncStatus(ctx context.Context, src Source) (int, error) {
	return r.syncStatus(ctx, src, false)
}

// syncStatus is SyncStatus; a relay pull (src.Origins are clusters no
// direct link reached) keeps its own mark, since a filtered pull moves its
// mark past the entries of other owners.
func (r *Replicator) syncStatus(ctx context.Context, src Source, relay bool) (int, error) {
	ss, ok1 := r.st.(StatusStore)
	tr, ok2 := r.tr.(StatusTransport)
	if !ok1 || !ok2 {
		return 0, nil
	}
	merged := 0
	for range 1024 { // bounded: a peer that always says More cannot hold us
		r.status.mu.Lock()
		epoch, after := r.status.mark(src, relay)
		r.status.mu.Unlock()
		req := &StatusRequest{From: r.cfg.Cluster, Epoch: epoch, After: after, Origins: src.Origins, MaxBytes: uint32(r.cfg.MaxBatchBytes)}
		resp, err := r.askStatus(ctx, tr, src, req)
		if err == nil && resp.From != src.Cluster {
			err = fmt.Errorf("%w: asked %s for status, answered by %s", ErrMessage, src.Cluster, resp.From)
		}
		n := 0
		if err == nil && len(resp.Entries) > 0 {
			n, err = ss.MergeStatus(ctx, resp.Entries)
		}
		r.status.mu.Lock()
		l := r.status.get(src.Cluster)
		if err != nil {
			if !relay {
				if l.LastError != err.Error() && ctx.Err() == nil {
					r.log.Warn("status replication", "peer", src.Cluster, "err", err)
				}
				l.LastError = err.Error()
			}
			r.status.mu.Unlock()
			return merged, err
		}
		if !relay {
			if l.LastError != "" {
				r.log.Info("status replication resumed", "peer", src.Cluster)
			}
			l.LastError, l.LastPull = "", r.now()
		}
		l.Pulls++
		l.Received += uint64(len(resp.Entries))
		l.Merged += uint64(n)
		r.status.setMark(src, relay, resp.Epoch, resp.Next)
		r.status.mu.Unlock()
		merged += n
		if !resp.More {
			break
		}
	}
	return merged, nil
}

// relayMark is the mark of relay pulls from one peer, for one set of
// owners: another set starts again from 0.
type relayMark struct {
	owners      string
	epoch, next uint64
}

func (s *statusLinks) mark(src Source, relay bool) (epoch, next uint64) {
	if !relay {
		// A mark taken with another owner filter skipped entries this one
		// wants (the topology changed mode): start again.
		if l := s.get(src.Cluster); l.owners == strings.Join(src.Origins, ",") {
			return l.Epoch, l.Next
		}
		return 0, 0
	}
	if m := s.relays[src.Cluster]; m != nil && m.owners == strings.Join(src.Origins, ",") {
		return m.epoch, m.next
	}
	return 0, 0
}

func (s *statusLinks) setMark(src Source, relay bool, epoch, next uint64) {
	if !relay {
		l := s.get(src.Cluster)
		l.Epoch, l.Next, l.owners = epoch, next, strings.Join(src.Origins, ",")
		return
	}
	if s.relays == nil {
		s.relays = map[string]*relayMark{}
	}
	s.relays[src.Cluster] = &relayMark{strings.Join(src.Origins, ","), epoch, next}
}

// StatusRound pulls status once from every source, concurrently. Where
// sources are asked for their own entries only (mesh, site), the entries
// of clusters no direct pull reached (dead in membership, or their link
// failed) are then asked of the sources that answered: a cluster cut off
// from one peer still has its status seen there, through the others.
func (r *Replicator) StatusRound(ctx context.Context) {
	direct := r.Sources()
	failed := r.pullAll(ctx, direct, false)
	if _, via := r.statusRelays(direct, failed); len(via) > 0 {
		r.pullAll(ctx, via, true)
	}
}

// pullAll pulls status from every source concurrently and returns the
// ones that failed.
func (r *Replicator) pullAll(ctx context.Context, srcs []Source, relay bool) map[string]bool {
	var mu sync.Mutex
	failed := map[string]bool{}
	var wg sync.WaitGroup
	for _, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, r.statusTimeout())
			defer cancel()
			if _, err := r.syncStatus(sctx, src, relay); err != nil {
				mu.Lock()
				failed[src.Cluster] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// statusRelays returns the clusters whose own entries no direct pull
// brought (only where direct pulls ask for the peer's own entries), and
// the sources to ask for them.
func (r *Replicator) statusRelays(direct []Source, failed map[string]bool) (owners []string, via []Source) {
	reached := map[string]bool{}
	for _, s := range direct {
		if len(s.Origins) == 0 {
			return nil, nil // ring and primary sources forward every owner already
		}
		if !failed[s.Cluster] {
			reached[s.Cluster] = true
		}
	}
	for _, c := range r.liveClusters() {
		if c.Name != r.cfg.Cluster && !reached[c.Name] && !slices.Contains(owners, c.Name) {
			owners = append(owners, c.Name)
		}
	}
	if len(owners) == 0 {
		return nil, nil
	}
	slices.Sort(owners)
	for _, s := range direct {
		if reached[s.Cluster] {
			via = append(via, Source{Cluster: s.Cluster, Addrs: s.Addrs, Origins: owners})
		}
	}
	return owners, via
}

// askStatus tries the source's addresses in order (leader first).
func (r *Replicator) askStatus(ctx context.Context, tr StatusTransport, src Source, req *StatusRequest) (*StatusResponse, error) {
	if len(src.Addrs) == 0 {
		return nil, fmt.Errorf("no address known for cluster %s", src.Cluster)
	}
	var err error
	for _, addr := range src.Addrs {
		var resp *StatusResponse
		if resp, err = tr.Status(ctx, addr, req); err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// runStatus pulls status from every source each StatusInterval until ctx
// ends. Each source has at most one pull in flight and nobody waits for a
// slow one: a peer that does not answer delays only its own status. The
// relays (StatusRound) follow the links whose last pull failed.
func (r *Replicator) runStatus(ctx context.Context) {
	if _, ok := r.st.(StatusStore); !ok {
		return
	}
	if _, ok := r.tr.(StatusTransport); !ok {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	busy := map[string]bool{}
	start := func(key string, src Source, relay bool) {
		mu.Lock()
		defer mu.Unlock()
		if busy[key] {
			return
		}
		busy[key] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, r.statusTimeout())
			r.syncStatus(sctx, src, relay)
			cancel()
			mu.Lock()
			delete(busy, key)
			mu.Unlock()
		}()
	}
	t := time.NewTicker(r.cfg.StatusInterval)
	defer t.Stop()
	for {
		direct := r.Sources()
		for _, src := range direct {
			start(src.Cluster, src, false)
		}
		_, via := r.statusRelays(direct, r.failedStatusLinks())
		for _, src := range via {
			start("relay "+src.Cluster, src, true)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Replicator) statusTimeout() time.Duration {
	return max(10*r.cfg.StatusInterval, 10*time.Second)
}

// failedStatusLinks returns the peers whose last direct status pull failed.
func (r *Replicator) failedStatusLinks() map[string]bool {
	r.status.mu.Lock()
	defer r.status.mu.Unlock()
	out := map[string]bool{}
	for peer, l := range r.status.links {
		if l.LastError != "" {
			out[peer] = true
		}
	}
	return out
}
