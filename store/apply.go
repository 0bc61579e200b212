package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ApplyResult tells what applying a batch of remote changes did.
type ApplyResult struct {
	Applied    int // changes that took effect
	Duplicates int // changes applied before (replays, echoes, late copies)
	Dominated  int // of Applied: superseded every version they knew of
	Concurrent int // of Applied: left or made a conflict
	// Stopped is set when the batch could not be applied to the end
	// because a change depends on one this replica has not seen yet (a gap
	// in a stream, or a superseded version from another stream). What came
	// before it is applied; the rest is left for the next pull.
	Stopped bool
	Missing Dot // the first change that is missing
	Skewed  int // changes stamped further ahead of the local clock than MaxSkew
}

// Apply applies a batch of changes made at other replicas, in one fsynced
// transaction. The batch must hold whole transactions. A change whose dot
// the summary covers is a duplicate and is dropped; a change is applied
// only after everything it supersedes (causal order), so every replica
// goes through states that some order of the writes explains. Applying the
// same batch twice changes nothing the second time.
func (s *Store) Apply(ctx context.Context, changes []*Change) (ApplyResult, error) {
	if err := s.checkBatch(changes, s.Summary().Covers); err != nil {
		return ApplyResult{}, err
	}
	var res ApplyResult
	err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
		r, err := st.apply(tx, changes)
		res = r
		return err
	})
	if res.Skewed > 0 {
		s.mu.Lock()
		s.skew += uint64(res.Skewed)
		s.mu.Unlock()
		s.log.Warn("remote clock ahead of ours", "changes", res.Skewed, "max_skew", s.cfg.MaxSkew)
	}
	return res, err
}

// checkBatch refuses batches that no correct peer sends: transactions
// split or interleaved, or changes claiming to be this replica's own that
// it never made (have says which it made).
func (s *Store) checkBatch(changes []*Change, have func(Dot) bool) error {
	for i := 0; i < len(changes); {
		first := changes[i]
		if first == nil {
			return fmt.Errorf("%w: nil change in batch", ErrInvalid)
		}
		if first.TxSize == 0 || first.Dot.Seq != first.TxSeq {
			return fmt.Errorf("%w: change %s starts in the middle of its transaction (first %d); send transactions whole", ErrInvalid, first.Dot, first.TxSeq)
		}
		n := int(first.TxSize)
		if n > len(changes)-i {
			return fmt.Errorf("%w: transaction %s has %d of its %d changes; send transactions whole", ErrInvalid, first.Dot, len(changes)-i, n)
		}
		for j, c := range changes[i : i+n] {
			switch {
			case c == nil:
				return fmt.Errorf("%w: nil change in batch", ErrInvalid)
			case !c.Dot.Stream.Valid() || c.Dot.Stream != first.Dot.Stream || c.TxSeq != first.TxSeq ||
				c.TxSize != first.TxSize || c.Dot.Seq != first.TxSeq+uint64(j):
				return fmt.Errorf("%w: transaction %s is not contiguous at change %s", ErrInvalid, first.Dot, c.Dot)
			case !tableName.MatchString(c.Table) || c.Key == "" || len(c.Key) > maxKeyLen:
				return fmt.Errorf("%w: change %s has a bad table or key", ErrInvalid, c.Dot)
			case c.Deleted && c.Value != nil, !c.Deleted && len(c.Value) == 0:
				return fmt.Errorf("%w: change %s: a deletion must carry no value and a write a value", ErrInvalid, c.Dot)
			case c.Dot.Stream.Cluster() == s.replica && c.Dot.Stream.Incarnation() == s.Incarnation() && !have(c.Dot):
				return fmt.Errorf("%w: change %s", ErrSelfOrigin, c.Dot)
			}
		}
		i += n
	}
	return nil
}

func (st *txState) apply(tx *bolt.Tx, changes []*Change) (ApplyResult, error) {
	var res ApplyResult
	limit := hlcFromTime(time.UnixMilli(st.now).Add(st.s.cfg.MaxSkew))
	for i := 0; i < len(changes); {
		first := changes[i]
		n := int(first.TxSize)
		txn := changes[i : i+n]
		i += n
		have := st.seq(first.Dot.Stream)
		if first.Dot.Seq <= have {
			res.Duplicates += n
			continue
		}
		if missing, ok := st.missingDependency(txn, have); !ok {
			res.Stopped, res.Missing = true, missing
			break
		}
		for _, c := range txn {
			outcome, err := st.applyChange(tx, c)
			if err != nil {
				return res, err
			}
			switch outcome {
			case Duplicate:
				res.Duplicates++
				continue
			case Dominates:
				res.Dominated++
			case Concurrent:
				res.Concurrent++
			}
			res.Applied++
			if c.HLC > limit {
				res.Skewed++
			}
		}
	}
	return res, nil
}

// missingDependency checks that a transaction is next in its stream and
// that every version it supersedes has been applied here.
func (st *txState) missingDependency(txn []*Change, have uint64) (Dot, bool) {
	first := txn[0]
	if first.TxSeq != have+1 {
		return Dot{first.Dot.Stream, have + 1}, false
	}
	for _, c := range txn {
		for _, d := range c.Context {
			if d.Seq > st.seq(d.Stream) {
				return d, false
			}
		}
	}
	return Dot{}, true
}
