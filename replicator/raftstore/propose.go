package raftstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/store"
)

// propose runs ops through Raft: on the leader directly, on a follower by
// forwarding them to the leader. During an election it retries until a
// leader answers or the apply timeout ends.
func (s *Store) propose(ctx context.Context, ops []store.Op) ([]store.OpResult, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(s.cfg.ApplyTimeout)
	for {
		res, err := s.proposeOnce(ctx, ops)
		// Retried only when nothing reached a log: no leader known, or
		// Raft refused the entry as not the leader.
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, raft.ErrNotLeader) {
			return res, err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w (node %s is %s); nothing was written: try again in a few seconds, and if it lasts see 'pbxtopo raft status'", ErrNoLeader, s.cfg.Node, s.State())
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *Store) proposeOnce(ctx context.Context, ops []store.Op) ([]store.OpResult, error) {
	if s.raft.State() == raft.Leader {
		return s.ApplyAsLeader(ctx, ops)
	}
	leader := s.LeaderNode()
	if leader == "" || s.deps.Forwarder == nil {
		return nil, ErrNoLeader
	}
	for _, p := range s.deps.Peers.Peers() {
		if p.Node == leader && p.ReplAddr != "" {
			return s.deps.Forwarder.Forward(ctx, p.ReplAddr, ops)
		}
	}
	return nil, ErrNoLeader
}

// ReadBarrier returns once this node's store holds every write the
// cluster acknowledged before the call: on the leader, a barrier entry
// (committing it proves the node still leads); on a follower, the
// leader's read index, then a wait until this node has applied up to it.
// Reads after it are as fresh as a read on the leader.
func (s *Store) ReadBarrier(ctx context.Context) error {
	deadline := time.Now().Add(s.cfg.ApplyTimeout)
	for {
		idx, err := s.readIndex(ctx)
		if err == nil {
			for s.AppliedIndex() < idx {
				if err := s.Stalled(); err != nil {
					return err
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%w: node %s has applied up to %d of %d", ErrNoLeader, s.cfg.Node, s.AppliedIndex(), idx)
				}
				select {
				case <-time.After(2 * time.Millisecond):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(err, raft.ErrNotLeader) {
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%w (node %s is %s)", ErrNoLeader, s.cfg.Node, s.State())
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Store) readIndex(ctx context.Context) (uint64, error) {
	if s.raft.State() == raft.Leader {
		return s.leaderReadIndex()
	}
	leader := s.LeaderNode()
	if leader == "" || s.deps.Forwarder == nil {
		return 0, ErrNoLeader
	}
	for _, p := range s.deps.Peers.Peers() {
		if p.Node == leader && p.ReplAddr != "" {
			return s.deps.Forwarder.ReadIndex(ctx, p.ReplAddr)
		}
	}
	return 0, ErrNoLeader
}

// leaderReadIndex commits a barrier and returns the index of the last
// entry the store holds after it: every write acknowledged before the
// call is at or below it, and a follower's store holds it once its own
// applied index reaches it (indexes are the same on every node).
func (s *Store) leaderReadIndex() (uint64, error) {
	if s.raft.State() != raft.Leader {
		return 0, raft.ErrNotLeader
	}
	if err := s.raft.Barrier(s.cfg.ApplyTimeout).Error(); err != nil {
		return 0, err
	}
	if err := s.Stalled(); err != nil {
		return 0, err
	}
	return s.AppliedIndex(), nil
}

// writable refuses a write this node cannot take: a full disk (before the
// log takes an entry the store could not apply), or a node that stopped
// applying the log.
func (s *Store) writable() error {
	if err := s.local.Writable(); err != nil {
		return err
	}
	return s.Stalled()
}

// ApplyAsLeader applies ops through this node's Raft (the forward
// endpoint calls it for followers).
//
// It waits for the commit until ctx ends or ApplyTimeout passes (Raft's
// own future would wait for ever when the leader can neither commit nor
// learn it lost); the write may then still commit, and the error says so.
func (s *Store) ApplyAsLeader(ctx context.Context, ops []store.Op) ([]store.OpResult, error) {
	if err := s.writable(); err != nil { // forwarded writes get the same checks
		return nil, err
	}
	if err := s.ensureSeeded(); err != nil {
		return nil, err
	}
	// The first entry a cluster commits carries its identity: every node
	// adopts the first leader's incarnation, so all make the same streams.
	agreed := s.identity.Load() || s.local.IdentityAgreed()
	if agreed {
		s.identity.Store(true)
	} else {
		ops = append([]store.Op{{Kind: store.OpIdentity, Incarnation: s.local.Incarnation()}}, ops...)
	}
	data, err := encodeOps(ops)
	if err == nil {
		data, err = s.sealEntry(data)
	}
	if err != nil {
		return nil, err
	}
	start := time.Now()
	f := s.raft.Apply(data, s.cfg.ApplyTimeout)
	if s.deps.ObserveCommit != nil {
		defer func() { s.deps.ObserveCommit(time.Since(start)) }()
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	timer := time.NewTimer(s.cfg.ApplyTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if errors.Is(err, raft.ErrLeadershipLost) {
			// The entry is in the log of a deposed leader: the next one
			// may commit it. Proposing it again would apply it twice.
			return nil, fmt.Errorf("%w: leadership moved while the write was being committed; it may still commit", ErrUncertain)
		}
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w: the write was proposed to Raft but the caller stopped waiting for its commit; it may still commit", ErrUncertain, ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("%w: the write was proposed to Raft but did not commit within %s; it may still commit", ErrUncertain, s.cfg.ApplyTimeout)
	}
	r, ok := f.Response().(fsmResponse)
	if !ok {
		return nil, fmt.Errorf("raft: unexpected FSM response %T", f.Response())
	}
	if !agreed && r.err == nil {
		r.results = r.results[1:]
	}
	return r.results, r.err
}
