package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/pbxtopo/pbxtopo/pbx"
	bolt "go.etcd.io/bbolt"
)

// Revert backs out one change: the fields it set take back the values
// they had before it, and the other fields, changed since perhaps by
// someone else, stay as they are; a change that set every field (a
// creation, an older agent's change) brings back the whole version before
// it, or deletes the record it created. The revert is a new change, like
// any write, so later changes are not silently lost, and history shows
// both.
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
		if reverted.Set != nil && m.Value != nil && rec != nil && rec.Exists() {
			before, err := pbx.DecodeFields(prev.Value)
			if err != nil {
				return err
			}
			m.Patch, m.Value = pbx.Fields{}, nil
			for _, f := range reverted.Set {
				m.Patch[f] = before[f]
			}
			if m.Value, err = st.patch(tx, rec, m); err != nil {
				return err
			}
			m.Patch = nil
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
