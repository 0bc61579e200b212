package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OpKind names a write operation.
type OpKind uint8

// The operations a Raft log entry may carry.
const (
	OpWrite    OpKind = iota + 1 // Muts (+ Local), as Write/WriteLocal
	OpApply                      // Changes from another cluster, as Apply
	OpRevert                     // Revert
	OpStatus                     // Status entries, as PutStatus
	OpMerge                      // a snapshot page, as MergeSnapshot
	OpPurge                      // PurgeTombstones
	OpPrune                      // one round of PruneLog
	OpIdentity                   // adopt Incarnation: a Raft cluster agrees on one
	OpStatusAt                   // Status entries with the proposed time (HLC), as PutStatus
	OpStatusIn                   // StatusEntries from another cluster, as MergeStatus
)

// Op is one write operation with every decision already made, so that
// applying it gives the same result on every node: the Raft FSM applies
// the ops of committed log entries in order.
type Op struct {
	Kind    OpKind
	Author  string
	HLC     HLC               // OpWrite, OpRevert: the proposed timestamp
	Muts    []Mutation        // OpWrite
	Scopes  []string          // OpWrite: per mutation, "" or the site
	Local   map[string][]byte // OpWrite: local entries in the same transaction
	Changes []*Change         // OpApply
	Revert  Dot               // OpRevert
	Status  map[string][]byte // OpStatus, OpStatusAt (with HLC)
	Page    *SnapshotPage     // OpMerge
	S       Summary           // OpMerge: the sender's summary when the snapshot began
	Filter  TableFilter       // OpMerge: the tables the transfer covers
	Horizon Summary           // OpPurge
	Ceiling Summary           // OpPurge
	Older   time.Time         // OpPrune
	Safe    Summary           // OpPrune
	// Incarnation is the identity the nodes of a Raft cluster share: the
	// first leader's (OpIdentity).
	Incarnation uint64
	// StatusEntries are another cluster's status entries (OpStatusIn).
	StatusEntries []StatusEntry
}

// OpResult is what one Op did.
type OpResult struct {
	Write    WriteResult
	Apply    ApplyResult
	Reverted *Change
	N        int // records purged or log entries pruned
	Err      error
}

// ScopeOf returns the scope ("" or this replica's site) a write to table
// goes to now: a Raft leader fills Op.Scopes with it.
func (s *Store) ScopeOf(table string) string { return s.scopeOf(table) }

// RaftIndex returns the index of the last Raft log entry applied.
func (s *Store) RaftIndex() uint64 {
	var idx uint64
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	s.db.View(func(tx *bolt.Tx) error {
		idx = getU64(tx.Bucket(bMeta).Get(kRaftIndex))
		return nil
	})
	return idx
}

// ApplyOps applies the ops of one Raft log entry (or several, with the
// highest index) in order, in one fsynced transaction, and records index
// with them. An op that a check refuses (a create that collides, a stale
// If-Match) fails alone: checks run before an op changes anything. Entries
// at or below the recorded index were applied before (a replay after a
// restart) and are skipped.
func (s *Store) ApplyOps(ctx context.Context, index uint64, ops []Op) ([]OpResult, error) {
	out := make([]OpResult, len(ops))
	err := s.doApplied(ctx, func(tx *bolt.Tx, st *txState) error {
		meta := tx.Bucket(bMeta)
		if index > 0 && index <= getU64(meta.Get(kRaftIndex)) {
			return nil
		}
		for i, op := range ops {
			r, err := st.run(tx, op)
			out[i] = r
			if err != nil {
				return err // an I/O error: nothing of the entry is applied
			}
		}
		if index > 0 {
			return meta.Put(kRaftIndex, u64(index))
		}
		return nil
	})
	return out, err
}

// run applies one op. A refusal goes into the result; only an I/O error
// is returned (and aborts the transaction).
func (st *txState) run(tx *bolt.Tx, op Op) (OpResult, error) {
	var r OpResult
	var err error
	switch op.Kind {
	case OpWrite:
		if err = checkOpMutations(op); err == nil {
			r.Write, err = st.writeLocal(tx, op.Author, op.Muts, op.Local, op.Scopes, op.HLC)
		}
	case OpApply:
		// Against this transaction's state: the Raft FSM applies many
		// entries in one transaction, and an echo of a change made by an
		// earlier entry of it is not a forgery.
		if err = st.s.checkBatch(op.Changes, func(d Dot) bool { return d.Seq <= st.seq(d.Stream) }); err == nil {
			r.Apply, err = st.apply(tx, op.Changes)
		}
	case OpRevert:
		r.Write, r.Reverted, err = st.revert(tx, op.Author, op.Revert, op.HLC)
	case OpStatus, OpStatusAt:
		if err = checkStatusEntries(op.Status); err == nil {
			err = st.putStatus(tx, op.Status, op.HLC)
		}
	case OpStatusIn:
		r.N, err = st.mergeStatus(tx, op.StatusEntries)
	case OpMerge:
		err = st.mergeSnapshot(tx, op.Page, op.S, op.Filter.matcher(st.s.site))
	case OpPurge:
		r.N, err = st.purge(tx, op.Horizon, op.Ceiling)
	case OpPrune:
		r.N, err = st.prune(tx, op.Older, op.Safe)
	case OpIdentity:
		err = st.adopt(tx, op.Incarnation)
	default:
		err = errRefused{ErrInvalid}
	}
	if refused, ok := err.(errRefused); ok {
		r.Err = refused.error
		return r, nil
	}
	if err != nil && isRefusal(err) {
		r.Err = err
		return r, nil
	}
	return r, err
}

type errRefused struct{ error }

// isRefusal tells a refused op (nothing changed) from an I/O failure.
func isRefusal(err error) bool {
	for _, e := range []error{ErrNotFound, ErrExists, ErrPrecondition, ErrInvalid, ErrSelfOrigin, ErrPruned, ErrConflict} {
		if errorsIs(err, e) {
			return true
		}
	}
	return false
}

func checkOpMutations(op Op) error {
	if len(op.Muts) > 0 {
		if err := checkMutations(op.Muts); err != nil {
			return err
		}
	}
	if op.Scopes != nil && len(op.Scopes) != len(op.Muts) {
		return errRefused{ErrInvalid}
	}
	return nil
}

// adopt sets the store's incarnation (OpIdentity). A store that already
// agreed on one keeps it: only the first identity op of a cluster counts.
func (st *txState) adopt(tx *bolt.Tx, inc uint64) error {
	m := tx.Bucket(bMeta)
	if m.Get(kIdentity) != nil || inc == 0 {
		return nil
	}
	if err := m.Put(kIncarnation, u64(inc)); err != nil {
		return err
	}
	st.incarnation = inc
	return m.Put(kIdentity, u64(inc))
}
