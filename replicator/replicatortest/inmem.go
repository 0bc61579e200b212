// Package replicatortest has what tests of replication need: an in-memory
// transport whose links a test cuts, slows, drops and replays, in the
// spirit of hashicorp/raft's InmemTransport.
package replicatortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// Server answers the requests that arrive at a transport's address: a
// node's replicator (the agent serves the same three calls over HTTP).
type Server interface {
	ServePull(ctx context.Context, req *replicator.PullRequest) (*replicator.PullResponse, error)
	ServeSnapshot(ctx context.Context, req *replicator.SnapshotRequest) (*store.SnapshotPage, error)
	ServeDigests(ctx context.Context) (*replicator.DigestResponse, error)
}

var _ Server = (*replicator.Replicator)(nil)

// Faults shape every request a transport sends.
type Faults struct {
	// Delay and Jitter: each way takes Delay plus up to Jitter.
	Delay, Jitter time.Duration
	// Loss is the share of requests lost on the way or whose answer is
	// lost on the way back: the caller gets an error.
	Loss float64
	// Replay is the share of pull answers that are delivered again later,
	// as the answer to a later pull on the same link (a duplicated,
	// late message).
	Replay float64
}

// ErrUnreachable: the link to the peer is cut, or nobody serves there.
var ErrUnreachable = errors.New("peer unreachable")

// ErrLost: the request or its answer was lost on the way.
var ErrLost = errors.New("message lost")

// Stats counts what a transport did.
type Stats struct {
	Requests, Unreachable, Lost, Replayed int
}

// InmemTransport is one node's replication transport: it reaches the
// transports it is connected to (one way, as raft's InmemTransport), and
// answers with the Server it serves. Messages go through the wire codec,
// so a peer never shares memory with another.
type InmemTransport struct {
	addr string

	mu     sync.Mutex
	peers  map[string]*InmemTransport
	srv    Server
	faults Faults
	rnd    *rand.Rand
	replay map[string]*replicator.PullResponse // per peer: an answer to deliver again
	stats  Stats
}

var _ replicator.Transport = (*InmemTransport)(nil)

// NewInmemTransport returns a transport at addr whose random faults come
// from seed.
func NewInmemTransport(addr string, seed int64) *InmemTransport {
	return &InmemTransport{addr: addr, peers: map[string]*InmemTransport{}, rnd: rand.New(rand.NewSource(seed)),
		replay: map[string]*replicator.PullResponse{}}
}

// LocalAddr returns the address others reach this transport at.
func (t *InmemTransport) LocalAddr() string { return t.addr }

// Serve makes srv answer what arrives here; nil answers nothing (a node
// that is down).
func (t *InmemTransport) Serve(srv Server) {
	t.mu.Lock()
	t.srv = srv
	t.mu.Unlock()
}

// Connect lets this transport reach peer at addr.
func (t *InmemTransport) Connect(addr string, peer *InmemTransport) {
	t.mu.Lock()
	t.peers[addr] = peer
	t.mu.Unlock()
}

// Disconnect cuts the way from this transport to addr.
func (t *InmemTransport) Disconnect(addr string) {
	t.mu.Lock()
	delete(t.peers, addr)
	delete(t.replay, addr)
	t.mu.Unlock()
}

// DisconnectAll cuts every way out.
func (t *InmemTransport) DisconnectAll() {
	t.mu.Lock()
	t.peers = map[string]*InmemTransport{}
	t.replay = map[string]*replicator.PullResponse{}
	t.mu.Unlock()
}

// SetFaults sets the faults of the requests this transport sends.
func (t *InmemTransport) SetFaults(f Faults) {
	t.mu.Lock()
	t.faults = f
	t.mu.Unlock()
}

// Stats returns the counters.
func (t *InmemTransport) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// trip is the fate of one request, drawn when it is sent.
type trip struct {
	out, back   time.Duration
	lost        bool
	keepReplay  bool
	replayed    *replicator.PullResponse
	unreachable bool
}

func (t *InmemTransport) plan(addr string, pull bool) trip {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.Requests++
	f := t.faults
	way := func() time.Duration {
		d := f.Delay
		if f.Jitter > 0 {
			d += time.Duration(t.rnd.Int63n(int64(f.Jitter)))
		}
		return d
	}
	tr := trip{out: way(), back: way(), lost: f.Loss > 0 && t.rnd.Float64() < f.Loss}
	if _, ok := t.peers[addr]; !ok {
		tr.unreachable = true
		t.stats.Unreachable++
		return tr
	}
	if tr.lost {
		t.stats.Lost++
	}
	if pull {
		if r := t.replay[addr]; r != nil {
			delete(t.replay, addr)
			tr.replayed = r
			t.stats.Replayed++
		} else {
			tr.keepReplay = f.Replay > 0 && t.rnd.Float64() < f.Replay
		}
	}
	return tr
}

// server returns what serves at addr if the link is up now.
func (t *InmemTransport) server(addr string) Server {
	t.mu.Lock()
	peer := t.peers[addr]
	t.mu.Unlock()
	if peer == nil {
		return nil
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	return peer.srv
}

func (t *InmemTransport) connected(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.peers[addr] != nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call carries one request to addr and its answer back, with the faults
// drawn for it; serve runs at the peer.
func (t *InmemTransport) call(ctx context.Context, addr string, tr trip, serve func(Server) error) error {
	if tr.unreachable {
		return fmt.Errorf("%w: %s cannot reach %s", ErrUnreachable, t.addr, addr)
	}
	if err := sleep(ctx, tr.out); err != nil {
		return err
	}
	srv := t.server(addr) // the link may have been cut while the request travelled
	if srv == nil {
		return fmt.Errorf("%w: %s cannot reach %s", ErrUnreachable, t.addr, addr)
	}
	if tr.lost {
		return fmt.Errorf("%w: %s → %s", ErrLost, t.addr, addr)
	}
	if err := serve(srv); err != nil {
		return err
	}
	if err := sleep(ctx, tr.back); err != nil {
		return err
	}
	if !t.connected(addr) {
		return fmt.Errorf("%w: the answer from %s to %s", ErrUnreachable, addr, t.addr)
	}
	return nil
}

// Pull implements replicator.Transport.
func (t *InmemTransport) Pull(ctx context.Context, addr string, req *replicator.PullRequest) (*replicator.PullResponse, error) {
	tr := t.plan(addr, true)
	if tr.replayed != nil && !tr.unreachable {
		// A late duplicate of an earlier answer arrives first and is
		// taken as the answer.
		if err := sleep(ctx, tr.out+tr.back); err != nil {
			return nil, err
		}
		return tr.replayed, nil
	}
	wire := replicator.EncodePullRequest(req)
	var out []byte
	err := t.call(ctx, addr, tr, func(srv Server) error {
		q, err := replicator.DecodePullRequest(bytes.NewReader(wire), replicator.MaxMessage)
		if err != nil {
			return err
		}
		q.MaxVersion = req.MaxVersion // travels in a header over HTTP
		resp, err := srv.ServePull(ctx, q)
		if err != nil {
			return err
		}
		out = replicator.EncodePullResponse(resp)
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp, err := replicator.DecodePullResponse(bytes.NewReader(out), replicator.MaxMessage)
	if err != nil {
		return nil, err
	}
	if tr.keepReplay {
		again, err := replicator.DecodePullResponse(bytes.NewReader(out), replicator.MaxMessage)
		if err == nil {
			t.mu.Lock()
			if t.peers[addr] != nil {
				t.replay[addr] = again
			}
			t.mu.Unlock()
		}
	}
	return resp, nil
}

// Snapshot implements replicator.Transport.
func (t *InmemTransport) Snapshot(ctx context.Context, addr string, req *replicator.SnapshotRequest) (*store.SnapshotPage, error) {
	wire := replicator.EncodeSnapshotRequest(req)
	var out []byte
	err := t.call(ctx, addr, t.plan(addr, false), func(srv Server) error {
		q, err := replicator.DecodeSnapshotRequest(bytes.NewReader(wire), 1<<20)
		if err != nil {
			return err
		}
		p, err := srv.ServeSnapshot(ctx, q)
		if err != nil {
			return err
		}
		// The version travels beside the message (a header over HTTP).
		out = replicator.EncodeSnapshotPage(p, max(min(req.MaxVersion, replicator.ProtocolVersion), replicator.MinProtocolVersion))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return replicator.DecodeSnapshotPage(bytes.NewReader(out), replicator.MaxMessage)
}

// Digests implements replicator.Transport.
func (t *InmemTransport) Digests(ctx context.Context, addr string) (*replicator.DigestResponse, error) {
	var out []byte
	err := t.call(ctx, addr, t.plan(addr, false), func(srv Server) error {
		d, err := srv.ServeDigests(ctx)
		if err != nil {
			return err
		}
		out = replicator.EncodeDigests(d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return replicator.DecodeDigests(bytes.NewReader(out), replicator.MaxMessage)
}
