package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Revert backs out one change: it writes a new version of the record equal
// to the version before that change (or deletes the record the change
// created). The new version supersedes the current winner, like any write,
// so later changes are not silently lost: reverting an old change brings
// back the old value as the newest one, and history shows both.
func (s *Store) Revert(ctx context.Context, author string, id Dot) (WriteResult, *Change, error) {
	var res WriteResult
	var reverted *Change
	err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
		var err error
		res, reverted, err = st.revert(tx, author, id, 0)
		return err
	})
	return res, reverted, err
}

func (st *txState) revert(tx *bolt.Tx, author string, id Dot, proposed HLC) (res WriteResult, reverted *Change, err error) {
	s := st.s
	err = func() error {
		sn := &Snapshot{tx, s}
		e, err := sn.Change(id)
		if err != nil {
			return err
		}
		reverted = e.Change
		var prev *Change
		for _, d := range reverted.Context {
			pe, err := sn.Change(d)
			if err != nil {
				if errors.Is(err, ErrPruned) || errors.Is(err, ErrNotFound) {
					return fmt.Errorf("the version before change %s (%s) is older than the retained history: %w", id, d, ErrPruned)
				}
				return err
			}
			if prev == nil || wins(versionOf(pe.Change), versionOf(prev)) {
				prev = pe.Change
			}
		}
		m := Mutation{Table: reverted.Table, Key: reverted.Key}
		if prev != nil && !prev.Deleted {
			m.Value = prev.Value
		}
		rec, err := st.s.loadRecord(mustTable(tx, reverted.Table), reverted.Table, reverted.Key)
		if err != nil {
			return err
		}
		if m.Value == nil && (rec == nil || !rec.Exists()) {
			res = WriteResult{Dots: []Dot{{}}}
			return nil // already absent
		}
		// The revert goes to the scope of the change it reverts.
		res, err = st.write(tx, fmt.Sprintf("%s (revert of %s)", author, id), []Mutation{m}, []string{id.Stream.Scope()}, proposed)
		return err
	}()
	return res, reverted, err
}

func versionOf(c *Change) Version {
	return Version{Dot: c.Dot, HLC: c.HLC, Author: c.Author, Deleted: c.Deleted, Value: c.Value}
}

func mustTable(tx *bolt.Tx, table string) *bolt.Bucket {
	b, _ := tableBucket(tx, table, false)
	return b
}
