package raftstore

import (
	"context"
	"fmt"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// store methods, through Raft.

// Write implements the store's Write through Raft.
func (s *Store) Write(ctx context.Context, author string, muts []store.Mutation) (store.WriteResult, error) {
	return s.WriteLocal(ctx, author, muts, nil)
}

// WriteLocal implements the store's WriteLocal through Raft.
func (s *Store) WriteLocal(ctx context.Context, author string, muts []store.Mutation, local map[string][]byte) (store.WriteResult, error) {
	scopes := make([]string, len(muts))
	for i, m := range muts {
		scopes[i] = s.local.ScopeOf(m.Table)
	}
	r, err := s.one(ctx, store.Op{Kind: store.OpWrite, Author: author, HLC: store.Now(), Muts: muts, Scopes: scopes, Local: local})
	return r.Write, err
}

// Apply implements the store's Apply through Raft.
func (s *Store) Apply(ctx context.Context, changes []*store.Change) (store.ApplyResult, error) {
	r, err := s.one(ctx, store.Op{Kind: store.OpApply, Changes: changes})
	return r.Apply, err
}

// Revert implements the store's Revert through Raft.
func (s *Store) Revert(ctx context.Context, author string, id store.Dot) (store.WriteResult, *store.Change, error) {
	r, err := s.one(ctx, store.Op{Kind: store.OpRevert, Author: author, HLC: store.Now(), Revert: id})
	return r.Write, r.Reverted, err
}

// PutStatus implements the store's PutStatus through Raft.
func (s *Store) PutStatus(ctx context.Context, entries map[string][]byte) error {
	_, err := s.one(ctx, store.Op{Kind: store.OpStatusAt, HLC: store.Now(), Status: entries})
	return err
}

// MergeStatus implements the store's MergeStatus through Raft.
func (s *Store) MergeStatus(ctx context.Context, entries []store.StatusEntry) (int, error) {
	if err := store.CheckStatusEntries(entries); err != nil {
		return 0, err // refused before it becomes a log entry
	}
	r, err := s.one(ctx, store.Op{Kind: store.OpStatusIn, StatusEntries: entries})
	return r.N, err
}

// MergeSnapshot implements the store's MergeSnapshot through Raft.
func (s *Store) MergeSnapshot(ctx context.Context, p *store.SnapshotPage, S store.Summary, f store.TableFilter) error {
	_, err := s.one(ctx, store.Op{Kind: store.OpMerge, Page: p, S: S, Filter: f})
	return err
}

// PurgeTombstones implements the store's PurgeTombstones through Raft.
func (s *Store) PurgeTombstones(ctx context.Context, horizon, ceiling store.Summary) (int, error) {
	r, err := s.one(ctx, store.Op{Kind: store.OpPurge, Horizon: horizon, Ceiling: ceiling})
	return r.N, err
}

// PruneLog implements the store's PruneLog through Raft, a round at a time.
func (s *Store) PruneLog(ctx context.Context, olderThan time.Time, safe store.Summary) (int, error) {
	total := 0
	for {
		r, err := s.one(ctx, store.Op{Kind: store.OpPrune, Older: olderThan, Safe: safe})
		total += r.N
		if err != nil || r.N < store.PruneRound {
			return total, err
		}
	}
}

func (s *Store) one(ctx context.Context, op store.Op) (store.OpResult, error) {
	res, err := s.propose(ctx, []store.Op{op})
	if err != nil {
		return store.OpResult{}, err
	}
	if len(res) != 1 {
		return store.OpResult{}, fmt.Errorf("raft: %d results for one op", len(res))
	}
	return res[0], res[0].Err
}

// Reads are local.

func (s *Store) Replica() string                           { return s.local.Replica() }
func (s *Store) Summary() store.Summary                    { return s.local.Summary() }
func (s *Store) Changed() <-chan struct{}                  { return s.local.Changed() }
func (s *Store) View(fn func(*store.Snapshot) error) error { return s.local.View(fn) }
func (s *Store) Stream(table string) store.Stream          { return s.local.Stream(table) }
func (s *Store) ReadSnapshot(t func(string) bool, after string, max int) (*store.SnapshotPage, error) {
	return s.local.ReadSnapshot(t, after, max)
}
func (s *Store) StatusSince(after uint64, want func(owner string) bool, max int) (*store.StatusPage, error) {
	return s.local.StatusSince(after, want, max)
}
func (s *Store) ChangesSince(have store.Summary, want func(store.Stream) bool, max int) (*store.Batch, error) {
	return s.local.ChangesSince(have, want, max)
}
