package raftstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/store"
)

// A leader deposed while its entry is in the log cannot tell whether the
// next leader commits it. Proposing it again could apply it twice (the
// second copy after other clients' writes), and answering "unknown"
// fails a write that usually went through. So the proposer settles it:
// it asks the cluster for a read index (a barrier the new leader commits
// in its own term) and reads the answer off its own log:
//
//   - the read index is below the entry's index: the new leader's log
//     does not hold the entry, and after the barrier no leader ever
//     will, so it was not applied and may be proposed again;
//   - otherwise this node applies up to the read index, and the entry is
//     applied if and only if this node's state machine applied it (seen
//     by its data, which the proposer registered before proposing).
//
// A snapshot installed meanwhile hides which entries it covers: that,
// and no answer before the deadline, leave the outcome unknown.

// proposals are the entries this node proposed and waits for, by the
// hash of their data.
type proposals struct {
	seed  maphash.Seed
	mu    sync.Mutex
	byKey map[uint64]*proposal
	// batch is held by the state machine while it applies a batch and
	// records what it applied, so a settle that saw the applied index
	// pass an entry then sees that entry recorded.
	batch sync.Mutex
}

type proposal struct {
	applied bool
	resp    fsmResponse
	unknown bool // a snapshot was installed while it was pending
}

func newProposals() *proposals {
	return &proposals{seed: maphash.MakeSeed(), byKey: map[uint64]*proposal{}}
}

func (ps *proposals) key(data []byte) uint64 { return maphash.Bytes(ps.seed, data) }

// track registers data before it is proposed; nil when an identical
// entry is pending already (its outcome then cannot be told apart).
func (ps *proposals) track(data []byte) (uint64, *proposal) {
	k := ps.key(data)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, dup := ps.byKey[k]; dup {
		return k, nil
	}
	p := &proposal{}
	ps.byKey[k] = p
	return k, p
}

func (ps *proposals) untrack(k uint64, p *proposal) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.byKey[k] == p {
		delete(ps.byKey, k)
	}
}

// applied records the response of each command entry that a proposer
// waits for.
func (ps *proposals) applied(logs []*raft.Log, out []any) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.byKey) == 0 {
		return
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if r, _ := out[i].(fsmResponse); r.err != nil {
			continue // not applied: the node stopped on it
		}
		if p := ps.byKey[ps.key(l.Data)]; p != nil {
			p.applied = true
			p.resp, _ = out[i].(fsmResponse)
		}
	}
}

// restored marks every pending proposal unknown: the snapshot may hold it.
func (ps *proposals) restored() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.byKey {
		p.unknown = true
	}
}

func (ps *proposals) state(p *proposal) (applied, unknown bool, resp fsmResponse) {
	ps.batch.Lock() // a batch that passed the entry has recorded it
	defer ps.batch.Unlock()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return p.applied, p.unknown, p.resp
}

// errNotCommitted: a deposed leader's entry that no leader will commit;
// proposing the write again is safe.
var errNotCommitted = fmt.Errorf("%w: the entry of a deposed leader was not committed", raft.ErrNotLeader)

// settle finds out whether the entry at index idx, proposed as p, was
// applied: its results, errNotCommitted, or ErrUncertain.
func (s *Store) settle(ctx context.Context, idx uint64, p *proposal, deadline time.Time) ([]store.OpResult, error) {
	uncertain := fmt.Errorf("%w: leadership moved while the write was being committed; it may still commit", ErrUncertain)
	if idx == 0 {
		return nil, errNotCommitted // never appended
	}
	for {
		ri, err := s.readIndex(ctx)
		if err == nil {
			if ri < idx {
				return nil, errNotCommitted
			}
			for s.AppliedIndex() < ri {
				if time.Now().After(deadline) || ctx.Err() != nil || s.Stalled() != nil {
					return nil, uncertain
				}
				select {
				case <-time.After(2 * time.Millisecond):
				case <-ctx.Done():
				}
			}
			applied, unknown, resp := s.fsm.proposals.state(p)
			switch {
			case unknown:
				return nil, uncertain
			case applied:
				return resp.results, resp.err
			}
			return nil, errNotCommitted
		}
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrNotLeader) {
			return nil, uncertain
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, uncertain
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}
