package store

import (
	"bytes"
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
	// over the version the write edits, read inside the write transaction:
	// Take, the one IfMatch names, or the winner. The result is validated
	// there (pbx.ApplyPatch); Value must be nil.
	Patch pbx.Fields
	// Take is the side a patch edits when the record is in conflict.
	Take Dot
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
		if k == "" || len(k) > maxKeyLen || len(v) > maxValueLen {
			return WriteResult{}, fmt.Errorf("%w: local entry %q: key must be 1-%d bytes", ErrInvalid, k, maxKeyLen)
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
		case !m.Take.IsZero() && m.Patch == nil:
			return fmt.Errorf("%w: %s/%s: take names the side a patch edits", ErrInvalid, m.Table, m.Key)
		}
		k := m.Table + "\x00" + m.Key
		if seen[k] {
			return fmt.Errorf("%w: %s/%s appears twice in one write", ErrInvalid, m.Table, m.Key)
		}
		seen[k] = true
	}
	return nil
}

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
		ctx, skip, err := writeContext(rec, m)
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
		c := Change{Table: m.Table, Key: m.Key, Value: m.Value, Deleted: m.Value == nil, Context: ctx, Author: author}
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
			c.TxSeq = first
			c.TxSize = uint32(len(pcs))
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
// the versions it supersedes, or skip when it would change nothing.
func writeContext(rec *Record, m Mutation) (ctx []Dot, skip bool, err error) {
	exists := rec != nil && rec.Exists()
	name := m.Table + "/" + m.Key
	switch {
	case m.Must == MustNotExist && exists:
		return nil, false, fmt.Errorf("%s: %w", name, ErrExists)
	case m.Must == MustExist && !exists,
		m.Value == nil && !exists && len(m.IfMatch) == 0 && !(m.SupersedeAll && rec != nil && rec.Conflict()):
		return nil, false, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if rec == nil {
		if len(m.IfMatch) > 0 {
			return nil, false, fmt.Errorf("%s: version %s is no longer current (the record does not exist): %w", name, m.IfMatch[0], ErrPrecondition)
		}
		return nil, false, nil
	}
	live := rec.Dots()
	for _, d := range m.IfMatch {
		if !slices.Contains(live, d) {
			return nil, false, fmt.Errorf("%s: version %s is no longer current (now %s); read it again and retry: %w", name, d, rec.Winner().Dot, ErrPrecondition)
		}
	}
	if m.SupersedeAll && len(m.IfMatch) > 0 && len(m.IfMatch) != len(live) {
		for _, d := range live {
			if !slices.Contains(m.IfMatch, d) {
				return nil, false, fmt.Errorf("%s: version %s from %s arrived since the sides were read; show the conflict again: %w", name, d, d.Stream.Cluster(), ErrPrecondition)
			}
		}
	}
	if rec.Conflict() && !m.SupersedeAll && len(m.IfMatch) == 0 {
		return nil, false, &ConflictError{Table: m.Table, Key: m.Key, Versions: rec.Versions}
	}
	switch {
	case m.SupersedeAll:
		ctx = live
	case len(m.IfMatch) > 0:
		ctx = slices.Clone(m.IfMatch)
	default:
		ctx = []Dot{rec.Winner().Dot}
	}
	w := rec.Winner()
	if len(ctx) == len(live) && !rec.Conflict() && w.Deleted == (m.Value == nil) && bytes.Equal(w.Value, m.Value) {
		return nil, true, nil
	}
	return ctx, false, nil
}

// patch returns the record a patch makes of the version it edits, as the
// model validates it against the catalog inside this transaction.
func (st *txState) patch(tx *bolt.Tx, rec *Record, m Mutation) ([]byte, error) {
	name := m.Table + "/" + m.Key
	var base *Version
	pick := m.Take
	if pick.IsZero() && len(m.IfMatch) == 1 {
		pick = m.IfMatch[0]
	}
	switch {
	case rec == nil || len(rec.Versions) == 0:
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	case !pick.IsZero():
		for i := range rec.Versions {
			if rec.Versions[i].Dot == pick {
				base = &rec.Versions[i]
			}
		}
		if base == nil {
			return nil, fmt.Errorf("%s: version %s is no longer current (now %s); read it again and retry: %w", name, pick, rec.Winner().Dot, ErrPrecondition)
		}
	case rec.Conflict():
		return nil, &ConflictError{Table: m.Table, Key: m.Key, Versions: rec.Versions}
	default:
		base = &rec.Versions[0]
	}
	if base.Deleted {
		return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	cur, err := pbx.DecodeFields(base.Value)
	if err != nil {
		return nil, fmt.Errorf("%s version %s: %w", name, base.Dot, err)
	}
	f, err := pbx.ApplyPatch(m.Table, m.Key, cur, m.Patch, snapshotCatalog{&Snapshot{tx, st.s}})
	if err != nil {
		return nil, invalidRecord{err}
	}
	return f.AppendBinary(nil), nil
}
