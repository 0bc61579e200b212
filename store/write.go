package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	bolt "go.etcd.io/bbolt"
)

// Must states what a write expects to find.
type Must int

const (
	// Any: create or replace.
	Any Must = iota
	// MustNotExist: a create; fails with ErrExists when the record is live.
	MustNotExist
	// MustExist: an update; fails with ErrNotFound when it is not.
	MustExist
)

// Mutation is one record to write or delete.
type Mutation struct {
	Table string
	Key   string
	// Value is the new value; nil deletes the record.
	Value []byte
	// IfMatch names the versions the writer read and supersedes; the write
	// fails with ErrPrecondition when one of them is no longer live. Empty
	// means the current winner.
	IfMatch []Dot
	// SupersedeAll supersedes every live version: it resolves a conflict.
	// With IfMatch, IfMatch must name exactly the live versions, so a
	// version that arrived after the writer looked is never superseded
	// unseen.
	SupersedeAll bool
	Must         Must
	// Patch, when not nil, sets these fields (an empty value clears one)
	// over the record as it shows inside the write transaction (its live
	// versions merged). The result is validated there (pbx.ApplyPatch);
	// Value must be nil.
	Patch pbx.Fields
	// Resolve names the merge units (pbx.MergeUnit) in conflict that this
	// write decides: they take the value it writes, even one equal to the
	// value shown. A write that changes a unit in conflict without naming
	// it is refused with the sides.
	Resolve []string
}

// WriteResult tells what a write did.
type WriteResult struct {
	// Dots has, per mutation in order, the new change's id, or a zero Dot
	// when the mutation changed nothing (same value as the current one).
	Dots []Dot
	// Changed counts the mutations that made a change.
	Changed int
}

var tableName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Write applies the mutations as one transaction, all or nothing, made at
// this replica by author. It returns once the transaction is fsynced. A
// mutation that would not change the record (same value, no conflict) is
// skipped. Mutations of site-only tables form their own replication
// transaction, since they travel on their own stream.
func (s *Store) Write(ctx context.Context, author string, muts []Mutation) (WriteResult, error) {
	if err := checkMutations(muts); err != nil {
		return WriteResult{}, err
	}
	if len(author) > maxAuthorLen {
		return WriteResult{}, fmt.Errorf("%w: author is %d bytes, the limit is %d", ErrInvalid, len(author), maxAuthorLen)
	}
	var res WriteResult
	err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
		r, err := st.write(tx, author, muts, nil, 0)
		res = r
		return err
	})
	return res, err
}

// WriteLocal is Write plus local entries (key → value; nil or empty removes) written
// in the same transaction into this replica's local, never replicated,
// key-value space: a bridge's checkpoint is then on disk exactly when the
// changes it covers are. muts may be empty.
func (s *Store) WriteLocal(ctx context.Context, author string, muts []Mutation, local map[string][]byte) (WriteResult, error) {
	if len(muts) > 0 {
		if err := checkMutations(muts); err != nil {
			return WriteResult{}, err
		}
	}
	for k, v := range local {
		switch {
		case k == "" || len(k) > maxKeyLen:
			return WriteResult{}, fmt.Errorf("%w: local entry %q: key must be 1-%d bytes", ErrInvalid, k, maxKeyLen)
		case len(v) > maxValueLen:
			return WriteResult{}, fmt.Errorf("%w: local entry %q: value is %d bytes, the limit is %d", ErrInvalid, k, len(v), maxValueLen)
		}
	}
	var res WriteResult
	err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
		var err error
		res, err = st.writeLocal(tx, author, muts, local, nil, 0)
		return err
	})
	return res, err
}

func (st *txState) writeLocal(tx *bolt.Tx, author string, muts []Mutation, local map[string][]byte, scopes []string, proposed HLC) (WriteResult, error) {
	var res WriteResult
	var err error
	if len(muts) > 0 {
		if res, err = st.write(tx, author, muts, scopes, proposed); err != nil {
			return res, err
		}
	}
	b := tx.Bucket(bLocal)
	for k, v := range local {
		if len(v) == 0 {
			err = b.Delete([]byte(k))
		} else {
			err = b.Put([]byte(k), v)
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func checkMutations(muts []Mutation) error {
	if len(muts) == 0 {
		return fmt.Errorf("%w: nothing to write", ErrInvalid)
	}
	seen := make(map[string]bool, len(muts))
	for i, m := range muts {
		switch {
		case !tableName.MatchString(m.Table):
			return fmt.Errorf("%w: mutation %d: table %q is not a valid table name", ErrInvalid, i+1, m.Table)
		case m.Key == "" || len(m.Key) > maxKeyLen:
			return fmt.Errorf("%w: mutation %d: key must be 1-%d bytes", ErrInvalid, i+1, maxKeyLen)
		case len(m.Value) > maxValueLen:
			return fmt.Errorf("%w: %s/%s: value is %d bytes, the limit is %d", ErrInvalid, m.Table, m.Key, len(m.Value), maxValueLen)
		case m.Value != nil && len(m.Value) == 0:
			return fmt.Errorf("%w: %s/%s: empty value (use nil to delete)", ErrInvalid, m.Table, m.Key)
		case m.Patch != nil && m.Value != nil:
			return fmt.Errorf("%w: %s/%s: a patch carries no value", ErrInvalid, m.Table, m.Key)
		}
		k := m.Table + "\x00" + m.Key
		if seen[k] {
			return fmt.Errorf("%w: %s/%s appears twice in one write", ErrInvalid, m.Table, m.Key)
		}
		seen[k] = true
	}
	return nil
}

// MaxTxChanges bounds the changes of one logged transaction. A write of
// more (an import of a million rows) is committed here in one bbolt
// transaction, all or nothing, but logged as consecutive transactions of
// at most MaxTxChanges: peers apply a transaction whole, in one bbolt
// (and Raft) transaction, so without the bound a peer catching up would
// hold the whole import in memory at once. A peer may therefore show such
// an import in parts while it arrives. It is a constant: every node of a
// Raft cluster must split the same write the same way.
const MaxTxChanges = 1000

// pendingChange is a mutation that passed its checks, before its dot.
type pendingChange struct {
	index int
	c     Change
}

// write applies mutations as one transaction. scopes gives each
// mutation's scope ("" or the site; nil: from the configuration) and
// proposed the timestamp (0: the local clock): the Raft FSM passes both
// as the leader decided them, so every node assigns the same dots.
func (st *txState) write(tx *bolt.Tx, author string, muts []Mutation, scopes []string, proposed HLC) (WriteResult, error) {
	s := st.s
	res := WriteResult{Dots: make([]Dot, len(muts))}
	byStream := map[Stream][]pendingChange{}
	var order []Stream
	for i, m := range muts {
		b, err := tableBucket(tx, m.Table, false)
		if err != nil {
			return res, err
		}
		rec, err := st.s.loadRecord(b, m.Table, m.Key)
		if err != nil {
			return res, err
		}
		if m.Patch != nil {
			if m.Value, err = st.patch(tx, rec, m); err != nil {
				return res, err
			}
		}
		ctx, set, skip, err := writeContext(rec, m)
		if err != nil {
			return res, err
		}
		if skip {
			continue
		}
		scope := s.scopeOf(m.Table)
		if scopes != nil {
			scope = scopes[i]
		}
		stream := MakeStream(s.replica, st.incarnation, scope)
		if _, ok := byStream[stream]; !ok {
			order = append(order, stream)
		}
		c := Change{Table: m.Table, Key: m.Key, Value: m.Value, Deleted: m.Value == nil, Context: ctx, Author: author, Set: set}
		if rec == nil {
			c.Horizon = st.currentHorizon()
		}
		byStream[stream] = append(byStream[stream], pendingChange{i, c})
	}
	if proposed == 0 {
		proposed = hlcFromTime(s.cfg.Now())
	}
	for _, stream := range order {
		pcs := byStream[stream]
		// Keys in ascending order: bbolt appends instead of inserting in
		// the middle of ever larger nodes, which makes a 100,000-record
		// import linear instead of quadratic. Order inside a transaction
		// means nothing to readers or peers.
		slices.SortFunc(pcs, func(a, b pendingChange) int {
			if a.c.Table != b.c.Table {
				return strings.Compare(a.c.Table, b.c.Table)
			}
			return strings.Compare(a.c.Key, b.c.Key)
		})
		first := st.seq(stream) + 1
		for j := range pcs {
			c := &pcs[j].c
			c.Dot = Dot{stream, first + uint64(j)}
			// A write of more than MaxTxChanges is logged as several
			// transactions (see MaxTxChanges).
			start := j / MaxTxChanges * MaxTxChanges
			c.TxSeq = first + uint64(start)
			c.TxSize = uint32(min(len(pcs)-start, MaxTxChanges))
			c.HLC = max(proposed, st.hlc+1)
			if _, err := st.applyChange(tx, c); err != nil {
				return res, err
			}
			res.Dots[pcs[j].index] = c.Dot
			res.Changed++
		}
	}
	return res, nil
}

// writeContext checks a mutation against the record it writes and returns
// the versions it supersedes and the fields it sets (nil: all), or skip
// when it would change nothing. Without If-Match a write supersedes every
// live version: its writer read them merged.
func writeContext(rec *Record, m Mutation) (ctx []Dot, set []string, skip bool, err error) {
	exists := rec != nil && rec.Exists()
	name := m.Table + "/" + m.Key
	var recordConflict bool
	if rec != nil {
		recordConflict, _ = rec.RecordConflict()
	}
	switch {
	case m.Must == MustNotExist && exists:
		return nil, nil, false, fmt.Errorf("%s: %w", name, ErrExists)
	case m.Must == MustExist && !exists,
		m.Value == nil && !exists && len(m.IfMatch) == 0 && !(m.SupersedeAll && recordConflict):
		return nil, nil, false, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if rec == nil {
		if len(m.IfMatch) > 0 {
			return nil, nil, false, fmt.Errorf("%s: version %s is no longer current (the record does not exist): %w", name, m.IfMatch[0], ErrPrecondition)
		}
		return nil, nil, false, nil
	}
	live := rec.Dots()
	for _, d := range m.IfMatch {
		if !slices.Contains(live, d) {
			return nil, nil, false, fmt.Errorf("%s: version %s is no longer current (now %s); read it again and retry: %w", name, d, FormatDots(live), ErrPrecondition)
		}
	}
	if m.SupersedeAll && len(m.IfMatch) > 0 && len(m.IfMatch) != len(live) {
		for _, d := range live {
			if !slices.Contains(m.IfMatch, d) {
				return nil, nil, false, fmt.Errorf("%s: version %s from %s arrived since the sides were read; show the conflict again: %w", name, d, d.Stream.Cluster(), ErrPrecondition)
			}
		}
	}
	if recordConflict && !m.SupersedeAll && len(m.IfMatch) == 0 {
		return nil, nil, false, &ConflictError{Table: m.Table, Key: m.Key, Conflicts: rec.Conflicts()}
	}
	ctx = live
	if len(m.IfMatch) > 0 && !m.SupersedeAll && !tombstone(rec) {
		// Only what the writer names. Tombstones alone all say the same
		// (deleted): a write over them supersedes every one, or the ones
		// it did not name would make a delete-against-update conflict here
		// and none at a replica that had purged them.
		ctx = slices.Clone(m.IfMatch)
	}
	if m.Value == nil || !exists || m.SupersedeAll {
		// A deletion, a creation, a resolution of the whole record: every
		// field. (Deleting the last live version is no change.)
		if m.Value == nil && !exists && !recordConflict {
			return nil, nil, true, nil
		}
		return ctx, nil, false, nil
	}
	set, changed, err := changedFields(rec, m)
	switch {
	case err != nil:
		return nil, nil, false, err
	case !changed && len(ctx) == len(live):
		return nil, nil, true, nil
	case !changed:
		// If-Match on some of the live versions, same value: the write
		// still supersedes what it names.
		return ctx, nil, false, nil
	}
	return ctx, set, false, nil
}

// changedFields returns the fields a write of value m.Value sets: those of
// every merge unit in which it differs from what the record shows, plus
// the units it resolves; changed is false when there are none. A change
// of a unit in conflict that the write does not resolve is refused with
// the sides. A whole-record table sets every field (set nil).
func changedFields(rec *Record, m Mutation) (set []string, changed bool, err error) {
	cur, _ := rec.Fields()
	next, err := pbx.DecodeFields(m.Value)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s/%s: %v", ErrInvalid, m.Table, m.Key, err)
	}
	units := map[string]bool{}
	for _, u := range m.Resolve {
		units[pbx.MergeUnit(m.Table, u)] = true
	}
	for k, v := range next {
		if cur[k] != v {
			units[pbx.MergeUnit(m.Table, k)] = true
		}
	}
	for k, v := range cur {
		if next[k] != v {
			units[pbx.MergeUnit(m.Table, k)] = true
		}
	}
	var refused []FieldConflict
	for _, c := range rec.Conflicts() {
		if (units[c.Unit] || units[pbx.WholeRecord]) && !slices.Contains(m.Resolve, c.Unit) {
			refused = append(refused, c)
		}
	}
	if len(refused) > 0 {
		return nil, false, &ConflictError{Table: m.Table, Key: m.Key, Conflicts: refused}
	}
	if len(units) == 0 {
		return nil, false, nil
	}
	if units[pbx.WholeRecord] {
		return nil, true, nil
	}
	for u := range units {
		set = append(set, pbx.UnitFields(m.Table, u)...)
	}
	slices.Sort(set)
	return set, true, nil
}

// patch returns the record a patch makes of the record as it shows
// inside this transaction, as the model validates it against the catalog
// there.
func (st *txState) patch(tx *bolt.Tx, rec *Record, m Mutation) ([]byte, error) {
	name := m.Table + "/" + m.Key
	if rec == nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if conflict, _ := rec.RecordConflict(); conflict && !m.SupersedeAll {
		return nil, &ConflictError{Table: m.Table, Key: m.Key, Conflicts: rec.Conflicts()}
	}
	cur, ok := rec.Fields()
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	f, err := pbx.ApplyPatch(m.Table, m.Key, cur, m.Patch, snapshotCatalog{&Snapshot{tx, st.s}})
	if err != nil {
		return nil, invalidRecord{err}
	}
	return f.AppendBinary(nil), nil
}
