package raftstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/store"
)

// ForwardPath is where a leader takes writes from its followers (on the
// replication endpoint, mutual TLS, same cluster only).
const ForwardPath = "/raft/v1/apply"

// ReadIndexPath is where a follower asks the leader how far the cluster
// has committed, for a read that sees every write acknowledged before it.
const ReadIndexPath = "/raft/v1/readindex"

// maxForward bounds a forwarded entry (an import of 100,000 extensions
// fits).
const maxForward = 256 << 20

// wireResult is an OpResult on the wire: errors travel as a kind and a
// message, so errors.Is still works on the follower.
type wireResult struct {
	Write    store.WriteResult
	Apply    store.ApplyResult
	Reverted *store.Change
	N        int
	ErrKind  int
	ErrMsg   string
}

var errKinds = []error{nil, store.ErrNotFound, store.ErrExists, store.ErrPrecondition, store.ErrInvalid,
	store.ErrSelfOrigin, store.ErrPruned, ErrNoLeader, ErrUncertain}

func toWire(r store.OpResult) wireResult {
	w := wireResult{Write: r.Write, Apply: r.Apply, Reverted: r.Reverted, N: r.N}
	if r.Err != nil {
		w.ErrMsg, w.ErrKind = r.Err.Error(), -1
		for i, k := range errKinds[1:] {
			if errors.Is(r.Err, k) {
				w.ErrKind = i + 1
			}
		}
	}
	return w
}

type kindError struct {
	msg  string
	kind error
}

func (e kindError) Error() string { return e.msg }
func (e kindError) Unwrap() error { return e.kind }

func fromWire(w wireResult) store.OpResult {
	r := store.OpResult{Write: w.Write, Apply: w.Apply, Reverted: w.Reverted, N: w.N}
	switch {
	case w.ErrKind > 0 && w.ErrKind < len(errKinds):
		r.Err = kindError{w.ErrMsg, errKinds[w.ErrKind]}
	case w.ErrKind != 0:
		r.Err = errors.New(w.ErrMsg)
	}
	return r
}

// Handler serves ForwardPath: a follower's ops, applied through this
// node's Raft when it leads (409 otherwise, so the follower asks again).
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pki.PeerIdentity(r.TLS)
		if err != nil || id.Cluster != s.cfg.Cluster {
			s.log.Warn("forwarded write refused", "remote", r.RemoteAddr, "peer", id.String(), "err", err)
			http.Error(w, "only nodes of cluster "+s.cfg.Cluster+" may forward writes here", http.StatusForbidden)
			return
		}
		if r.URL.Path == ReadIndexPath {
			s.serveReadIndex(w)
			return
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, maxForward))
		var ops []store.Op
		if err == nil {
			ops, err = store.DecodeOps(data)
		}
		if err != nil {
			http.Error(w, "bad forwarded entry: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !s.IsLeader() {
			http.Error(w, "not the leader", http.StatusConflict)
			return
		}
		res, err := s.ApplyAsLeader(r.Context(), ops)
		if err != nil {
			status := http.StatusInternalServerError
			switch {
			case errors.Is(err, ErrUncertain):
				status = http.StatusGatewayTimeout // the follower must not retry
			case errors.Is(err, raft.ErrNotLeader):
				status = http.StatusConflict // nothing logged: ask the new leader
			}
			http.Error(w, err.Error(), status)
			return
		}
		wire := make([]wireResult, len(res))
		for i, r := range res {
			wire[i] = toWire(r)
		}
		gob.NewEncoder(w).Encode(wire)
	})
}

// serveReadIndex answers a follower's read index: the index of a barrier
// this leader committed (so it still leads) and applied.
func (s *Store) serveReadIndex(w http.ResponseWriter) {
	idx, err := s.leaderReadIndex()
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			status = http.StatusConflict
		}
		http.Error(w, err.Error(), status)
		return
	}
	fmt.Fprint(w, idx)
}

// HTTPForwarder forwards ops to the leader over mutual TLS.
type HTTPForwarder struct{ hc *http.Client }

// NewHTTPForwarder returns a forwarder that presents the node's certificate.
func NewHTTPForwarder(cfg *tls.Config) *HTTPForwarder {
	return &HTTPForwarder{hc: &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 8}}}
}

// forwardError says what a failed forward means for the write. A
// connection never made, or a request that could not be written whole
// (the leader died: broken pipe), is safe to retry (ErrNoLeader: propose
// asks again); the leader cannot have decoded a request it did not get
// whole. Once the request has left, the leader may have applied it and
// lost only the answer: a retry would apply it a second time, after
// writes other clients made in between, so the outcome is unknown.
func forwardError(replAddr string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "write") {
		return fmt.Errorf("%w: forward to %s: %v", ErrNoLeader, replAddr, err)
	}
	return fmt.Errorf("%w: forward to the leader at %s: %v; the leader may have taken the write: read the record before writing again", ErrUncertain, replAddr, err)
}

// Forward implements Forwarder.
func (f *HTTPForwarder) Forward(ctx context.Context, replAddr string, ops []store.Op) ([]store.OpResult, error) {
	data, err := encodeOps(ops)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", "https://"+replAddr+ForwardPath, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, forwardError(replAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		return nil, ErrNoLeader // leadership moved: ask again
	}
	if resp.StatusCode == http.StatusGatewayTimeout {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%w: the leader at %s: %s", ErrUncertain, replAddr, bytes.TrimSpace(msg))
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("forward to the leader at %s: %s: %s", replAddr, resp.Status, bytes.TrimSpace(msg))
	}
	var wire []wireResult
	if err := gob.NewDecoder(resp.Body).Decode(&wire); err != nil {
		return nil, fmt.Errorf("forward: bad answer: %w", err)
	}
	out := make([]store.OpResult, len(wire))
	for i, w := range wire {
		out[i] = fromWire(w)
	}
	return out, nil
}

// ReadIndex implements Forwarder.
func (f *HTTPForwarder) ReadIndex(ctx context.Context, replAddr string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", "https://"+replAddr+ReadIndexPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: read index from %s: %v", ErrNoLeader, replAddr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusConflict {
		return 0, ErrNoLeader
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read index from the leader at %s: %s: %s", replAddr, resp.Status, bytes.TrimSpace(body))
	}
	var idx uint64
	if _, err := fmt.Sscan(string(body), &idx); err != nil {
		return 0, fmt.Errorf("read index from %s: bad answer %q", replAddr, body)
	}
	return idx, nil
}
