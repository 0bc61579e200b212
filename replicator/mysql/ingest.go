package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// rowChange is one row of a binlog event or of a dump.
type rowChange struct {
	t     *TableMap
	after Row  // the row's new values; nil when it was deleted
	key   Row  // the deleted row (key columns at least), when after is nil
	echo  bool // written by this bridge: only the hold moves
}

func (c rowChange) row() Row {
	if c.after != nil {
		return c.after
	}
	return c.key
}

// rowError is an unmappable row: index is its place in the changes.
type rowError struct {
	index int
	err   error
}

func (e *rowError) Error() string { return e.err.Error() }
func (e *rowError) Unwrap() error { return e.err }

// working is one record being changed by the rows of one write.
type working struct {
	table, key string
	ifMatch    []store.Dot
	base       pbx.Fields // the fields of the version the rows supersede
	baseLive   bool
	fields     pbx.Fields // the new fields; nil = deleted
	touched    bool
}

// ingest writes the row changes as one store transaction, with the holds
// they imply and the extra local entries (the checkpoint) in the same
// transaction. It returns the number of store changes made.
func (b *Bridge) ingest(ctx context.Context, changes []rowChange, extra map[string][]byte) (int, error) {
	for attempt := 0; ; attempt++ {
		muts, local, dirty, err := b.plan(changes)
		if err != nil {
			return 0, err
		}
		for k, v := range extra {
			local[k] = v
		}
		if len(muts) == 0 && len(local) == 0 {
			return 0, nil
		}
		res, err := b.st.WriteLocal(ctx, b.cfg.Author, muts, local)
		// Someone else wrote one of the records since plan read it:
		// read again, so the rows supersede what is there now.
		if errors.Is(err, store.ErrPrecondition) && attempt < 20 {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("write %d rows to the store: %w", len(changes), err)
		}
		for _, k := range dirty {
			select {
			case b.dirty <- k:
			default: // the outbound side catches up with a full pass
			}
		}
		return res.Changed, nil
	}
}

// plan turns row changes into mutations and hold entries.
func (b *Bridge) plan(changes []rowChange) (muts []store.Mutation, local map[string][]byte, dirty []string, err error) {
	local = map[string][]byte{}
	works := map[string]*working{}
	var order []*working
	err = b.st.View(func(sn *store.Snapshot) error {
		cat := sn.Catalog()
		for i, c := range changes {
			t := c.t
			key, err := t.RecordKey(c.row(), b.cluster)
			if err != nil {
				return &rowError{i, err}
			}
			hk := b.holdKey(t.Name, key)
			id := t.Store.Name + "\x00" + key
			w := works[id]
			if w == nil {
				if w, err = b.startWork(sn, t, key, hk); err != nil {
					return err
				}
				works[id] = w
				order = append(order, w)
			}
			if c.echo {
				hold := absent
				if c.after != nil {
					f, err := t.ToFields(c.after, key, nil)
					if err == nil {
						if n, err := t.Store.Prepare(f, cat); err == nil {
							f = n
						}
					}
					hold = holdOf(t, f, true)
				}
				local[hk] = hold
				cur, live := w.fields, w.fields != nil
				if !w.touched {
					cur, live, _ = winnerFields(sn, t.Store.Name, key)
				}
				if !bytes.Equal(hold, holdOf(t, cur, live)) {
					dirty = append(dirty, t.Store.Name+"\x00"+key)
				}
				continue
			}
			if c.after == nil {
				local[hk] = absent
				switch {
				case w.fields == nil:
				case t.Primary:
					w.fields, w.touched = nil, true
				default:
					f := w.fields.Clone()
					for _, o := range t.Owned() {
						if !isKeyField(t, o) {
							delete(f, o)
						}
					}
					w.fields, w.touched = f, true
				}
				continue
			}
			f, err := t.ToFields(c.after, key, w.fields)
			if err == nil {
				config, _ := t.Store.SplitStatus(f)
				f, err = t.Store.Prepare(config, cat)
			}
			if err != nil {
				return &rowError{i, unmappable(t, c.after, err)}
			}
			w.fields, w.touched = f, true
			local[hk] = holdOf(t, f, true)
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, w := range order {
		if !w.touched {
			continue
		}
		switch {
		case w.fields == nil && !w.baseLive:
		case w.fields == nil:
			muts = append(muts, store.Mutation{Table: w.table, Key: w.key, IfMatch: w.ifMatch})
		case w.baseLive && w.fields.Equal(w.base):
		default:
			muts = append(muts, store.Mutation{Table: w.table, Key: w.key, Value: w.fields.AppendBinary(nil), IfMatch: w.ifMatch})
		}
	}
	return muts, local, dirty, nil
}

func isKeyField(t *TableMap, f string) bool {
	for _, k := range t.Store.Key {
		if k == f {
			return true
		}
	}
	return false
}

// startWork reads the record a row changes and picks the version MySQL
// held: the live version whose fields hash to the hold, else the winner.
// Superseding that version (and only it) turns a MySQL write concurrent
// with a remote one into a conflict instead of hiding the remote one.
func (b *Bridge) startWork(sn *store.Snapshot, t *TableMap, key, hk string) (*working, error) {
	w := &working{table: t.Store.Name, key: key}
	rec, err := sn.Get(t.Store.Name, key)
	if err != nil {
		return nil, err
	}
	if rec == nil || len(rec.Versions) == 0 {
		return w, nil
	}
	chosen := rec.Winner()
	if hold := sn.Local(hk); hold != nil && len(rec.Versions) > 1 {
		for _, v := range rec.Versions {
			f, live, err := versionFields(v)
			if err != nil {
				return nil, err
			}
			if bytes.Equal(hold, holdOf(t, f, live)) {
				chosen = v
				break
			}
		}
	}
	f, live, err := versionFields(chosen)
	if err != nil {
		return nil, fmt.Errorf("store record %s/%s: %w", t.Store.Name, key, err)
	}
	w.ifMatch = []store.Dot{chosen.Dot}
	if live {
		w.base, w.baseLive, w.fields = f, true, f.Clone()
	}
	return w, nil
}

func versionFields(v store.Version) (pbx.Fields, bool, error) {
	if v.Deleted {
		return nil, false, nil
	}
	f, err := pbx.DecodeFields(v.Value)
	return f, err == nil, err
}

// winnerFields returns the winning fields of a record and whether it is live.
func winnerFields(sn *store.Snapshot, table, key string) (pbx.Fields, bool, error) {
	f, ok, err := sn.GetFields(table, key)
	if !ok || err != nil {
		return nil, false, err
	}
	return f, true, nil
}

// unmappable names the table, column and row of a value the pbx model
// refuses.
func unmappable(t *TableMap, row Row, err error) error {
	var ve *pbx.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		parts := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			parts[i] = fmt.Sprintf("column %s: %s", t.columnOf(p.Field), p.Msg)
		}
		err = errors.New(strings.Join(parts, "; "))
	}
	return fmt.Errorf("%s: %v: %w it to a pbx %s; fix the row (or the store, e.g. add the cluster): the bridge retries from the same binlog position", rowKey(t, row), err, ErrUnmappable, t.Store.Noun)
}

// columnOf names the MySQL column that feeds a pbx field.
func (t *TableMap) columnOf(field string) string {
	switch {
	case field == "cluster" && t.ClusterColumn != "":
		return t.ClusterColumn
	case field == t.numberField():
		return t.NumberColumn
	}
	for _, c := range t.Columns {
		if c.Field == field || (c.MailboxContext && field == "mailbox") {
			return c.Name
		}
	}
	return field + " (pbx field)"
}
