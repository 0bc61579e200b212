package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// rowChange is one row of a binlog event or of a dump.
type rowChange struct {
	t     *TableMap
	after Row    // the row's new values; nil when it was deleted
	key   Row    // the deleted row (key columns at least), when after is nil
	echo  bool   // written by this bridge: only the hold moves
	pos   string // the binlog position of its event ("" in a dump)
	bad   error  // the binlog value could not be read
}

func (c rowChange) row() Row {
	if c.after != nil {
		return c.after
	}
	return c.key
}

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
// they imply, the parks of the rows it cannot take and the extra local
// entries (the checkpoint) in the same transaction. It returns the number
// of store changes made.
func (b *Bridge) ingest(ctx context.Context, changes []rowChange, extra map[string][]byte) (int, error) {
	conflicted := map[int]error{}
	for attempt := 0; ; attempt++ {
		p, err := b.plan(changes, conflicted)
		if err != nil {
			return 0, err
		}
		for k, v := range extra {
			p.local[k] = v
		}
		if len(p.muts) == 0 && len(p.local) == 0 {
			return 0, nil
		}
		res, err := b.st.WriteLocal(ctx, b.cfg.Author, p.muts, p.local)
		// Someone else wrote one of the records since plan read it:
		// read again, so the rows supersede what is there now.
		if errors.Is(err, store.ErrPrecondition) && attempt < 20 {
			continue
		}
		// A record in conflict refuses the change of a field in conflict:
		// its rows are parked until the conflict is resolved.
		var ce *store.ConflictError
		if errors.As(err, &ce) && attempt < len(changes)+20 {
			found := false
			for i, r := range p.records {
				if r == ce.Table+"/"+ce.Key && conflicted[i] == nil {
					conflicted[i], found = ce, true
				}
			}
			if found {
				continue
			}
		}
		if err != nil {
			return 0, fmt.Errorf("write %d rows to the store: %w", len(changes), err)
		}
		if p.parks != nil {
			b.setParkedIn(p.parks)
		}
		for _, k := range p.dirty {
			select {
			case b.dirty <- k:
			default: // the outbound side catches up with a full pass
			}
		}
		return res.Changed, nil
	}
}

// ingestPlan is what a write of row changes does.
type ingestPlan struct {
	muts    []store.Mutation
	local   map[string][]byte
	dirty   []string
	records []string             // per change: "table/key" of its record, "" if none
	parks   map[string]ParkedRow // the inbound parks after the write, when they change
}

// plan turns row changes into mutations, hold entries and parks.
func (b *Bridge) plan(changes []rowChange, conflicted map[int]error) (*ingestPlan, error) {
	p := &ingestPlan{local: map[string][]byte{}, records: make([]string, len(changes))}
	works := map[string]*working{}
	var order []*working
	err := b.st.View(func(sn *store.Snapshot) error {
		cat := memoCatalog{sn.Catalog(), map[[2]string]memoEntry{}}
		parks, parkParts := b.readParks(sn)
		parksChanged := false
		park := func(c rowChange, record string, err error) {
			id := parkID(c.t, c.row())
			np := newPark(c.t, c.row(), record, c.pos, err)
			if old, ok := parks[id]; ok && old.Problem == np.Problem {
				np.Since = old.Since
			}
			parks[id], parksChanged = np, true
			b.log.Warn("parked a MySQL row the store cannot take", "row", np.Row, "column", np.Column, "problem", np.Problem, "fix", np.Fix)
		}
		unpark := func(c rowChange) {
			if id := parkID(c.t, c.row()); parks[id].Row != "" {
				delete(parks, id)
				parksChanged = true
			}
		}
		pending := func() []*working { return order }
		find := Finder{Box: b.boxFinder(sn, pending), Number: b.standbyFinder(sn, pending)}
		for i, c := range changes {
			t := c.t
			if c.bad != nil {
				if !c.echo {
					park(c, "", c.bad)
				}
				continue
			}
			key, err := t.RecordKey(c.row(), b.cluster, find)
			if err != nil {
				switch {
				case c.echo:
				case c.after == nil && t.ByMailbox:
					unpark(c) // a box no extension has is gone: nothing to do
				default:
					park(c, "", err)
				}
				continue
			}
			p.records[i] = t.Store.Name + "/" + key
			if conflicted[i] != nil {
				park(c, p.records[i], conflicted[i])
				continue
			}
			hk := b.holdKey(t.Name, key)
			id := t.Store.Name + "\x00" + key
			w := works[id]
			if c.echo {
				// Only the hold moves: the record as it is now is what the
				// echo is compared with (no work for it, nor a version).
				var cur pbx.Fields
				var live bool
				if w != nil && w.touched {
					cur, live = w.fields, w.fields != nil
				} else {
					cur, live, _ = winnerFields(sn, t.Store.Name, key)
				}
				hold := absent
				if c.after != nil && live && t.IsImage(c.after, key, cur) {
					// MySQL holds what the record would be written as (the
					// usual echo): ToFields would give the record back, so
					// the hold is the record's.
					p.local[hk] = holdOf(t, cur, true)
					unpark(c)
					continue
				}
				if c.after != nil {
					f, err := t.ToFields(c.after, key, cur)
					if err == nil {
						if n, err := t.Store.Prepare(f, cat); err == nil {
							f = n
						}
					}
					hold = holdOf(t, f, true)
				}
				p.local[hk] = hold
				if !bytes.Equal(hold, holdOf(t, cur, live)) {
					p.dirty = append(p.dirty, t.Store.Name+"\x00"+key)
				}
				unpark(c)
				continue
			}
			if w == nil {
				if w, err = b.startWork(sn, t, key, hk); err != nil {
					return err
				}
				works[id] = w
				order = append(order, w)
			}
			if c.after == nil {
				p.local[hk] = absent
				switch {
				case w.fields == nil:
				case t.Primary:
					w.fields, w.touched = nil, true
				default:
					f := w.fields.Clone()
					for _, o := range t.clearedOnDelete() {
						if !isKeyField(t, o) {
							delete(f, o)
						}
					}
					w.fields, w.touched = f, true
				}
				unpark(c)
				continue
			}
			if !t.Primary && w.fields == nil {
				// A row of a table that only adds fields, for a record that
				// does not exist: it would make a phantom extension.
				park(c, p.records[i], &parkError{column: t.KeyColumns()[len(t.KeyColumns())-1],
					err: fmt.Errorf("%s: extension %s does not exist: %w a row that only adds fields to it", rowKey(t, c.after), key, ErrUnmappable),
					fix: fmt.Sprintf("create the extension %s (pbxtopo ext set), or delete the row", key)})
				continue
			}
			f, err := t.ToFields(c.after, key, w.fields)
			if err == nil {
				config, _ := t.Store.SplitStatus(f)
				f, err = t.Store.Prepare(config, cat)
			}
			if err != nil {
				park(c, p.records[i], unmappable(t, c.after, err))
				continue
			}
			w.fields, w.touched = f, true
			p.local[hk] = holdOf(t, f, true)
			unpark(c)
		}
		if parksChanged {
			p.parks = parks
			b.writeParks(p.local, parks, parkParts)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, w := range order {
		if !w.touched {
			continue
		}
		switch {
		case w.fields == nil && !w.baseLive:
		case w.fields == nil:
			p.muts = append(p.muts, store.Mutation{Table: w.table, Key: w.key, IfMatch: w.ifMatch})
		case w.baseLive && w.fields.Equal(w.base):
		default:
			p.muts = append(p.muts, store.Mutation{Table: w.table, Key: w.key, Value: w.fields.AppendBinary(nil), IfMatch: w.ifMatch})
		}
	}
	return p, nil
}

// boxFinder returns the lookup of a voicemail box's extension: the
// records being changed by this write first, then this cluster's
// extensions as the snapshot has them.
func (b *Bridge) boxFinder(sn *store.Snapshot, pending func() []*working) func(box string) string {
	var index map[string]string
	return func(box string) string {
		for _, w := range pending() {
			if w.touched && w.table == pbx.Extensions.Name && w.fields != nil && w.fields["mailbox"] != "" && boxOf(w.fields["mailbox"]) == box {
				return w.key
			}
		}
		if index == nil {
			index = map[string]string{}
			sn.Scan(pbx.Extensions.Name, b.cluster+"/", func(key string, v []byte) error {
				if m, ok := pbx.LookupField(v, "mailbox"); ok && m != "" {
					if _, dup := index[boxOf(m)]; !dup {
						index[boxOf(m)] = key
					}
				}
				return nil
			})
		}
		key := index[box]
		for _, w := range pending() {
			if w.key == key && w.touched && (w.fields == nil || boxOf(w.fields["mailbox"]) != box) {
				key = "" // this write moves or removes that mailbox
			}
		}
		if key != "" {
			return key
		}
		// No extension names the box: the extension of that number, when
		// it has no mailbox, takes it (chan_sip's habit of one box per
		// peer, named like it).
		n, _, _ := strings.Cut(box, "@")
		key = pbx.Extensions.KeyOf(pbx.Fields{"cluster": b.cluster, "regexten": n})
		for _, w := range pending() {
			if w.key == key && w.touched {
				if w.fields != nil && w.fields["mailbox"] == "" {
					return key
				}
				return ""
			}
		}
		if f, live, _ := winnerFields(sn, pbx.Extensions.Name, key); live && f["mailbox"] == "" {
			return key
		}
		return ""
	}
}

// standbyFinder returns the lookup of a number's record when it is not
// this cluster's: a row of a number this cluster has no extension of, but
// a cluster it stands by for has, is that extension's.
func (b *Bridge) standbyFinder(sn *store.Snapshot, pending func() []*working) func(n string) string {
	var standby []string
	return func(n string) string {
		own := pbx.Extensions.KeyOf(pbx.Fields{"cluster": b.cluster, "regexten": n})
		for _, w := range pending() {
			if w.key == own && w.touched {
				return ""
			}
		}
		if _, live, _ := winnerFields(sn, pbx.Extensions.Name, own); live {
			return ""
		}
		if standby == nil {
			standby = standbyOf(sn, b.cluster)
		}
		for _, c := range standby {
			key := pbx.Extensions.KeyOf(pbx.Fields{"cluster": c, "regexten": n})
			if _, live, _ := winnerFields(sn, pbx.Extensions.Name, key); live {
				return key
			}
		}
		return ""
	}
}

// standbyOf returns the clusters whose failover list names cluster, in
// name order: their phones register here when they fail over.
func standbyOf(sn *store.Snapshot, cluster string) []string {
	out := []string{}
	sn.Scan(pbx.Clusters.Name, "", func(key string, v []byte) error {
		if list, ok := pbx.LookupField(v, "failover"); ok && key != cluster && slices.Contains(pbx.List(list), cluster) {
			out = append(out, key)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// clearedOnDelete are the fields a non-primary table's deleted row clears.
func (t *TableMap) clearedOnDelete() []string {
	keep := map[string]bool{}
	for _, c := range t.Columns {
		if c.Keep {
			keep[c.Field] = true
		}
	}
	var out []string
	for _, f := range t.Owned() {
		if !keep[f] {
			out = append(out, f)
		}
	}
	return out
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
			if bytes.Equal(holdHash(hold), holdHash(holdOf(t, f, live))) {
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
		// Shared: w.fields is replaced, never changed in place.
		w.base, w.baseLive, w.fields = f, true, f
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

// winnerFields returns the winning fields of a record and whether it is
// live, decoding only the value it shows (not its versions).
func winnerFields(sn *store.Snapshot, table, key string) (pbx.Fields, bool, error) {
	var f pbx.Fields
	err := sn.Values(table, []string{key}, func(_ string, v []byte) error {
		var err error
		if f, err = pbx.DecodeFields(v); err != nil {
			return fmt.Errorf("store: %s/%s: %w", table, key, err)
		}
		return nil
	})
	if f == nil || err != nil {
		return nil, false, err
	}
	return f, true, nil
}

// memoCatalog remembers the records a plan looked up: every row of a
// batch resolves the same cluster and group, and the snapshot does not
// change under it. The fields it returns are shared: read only.
type memoCatalog struct {
	pbx.Lister
	m map[[2]string]memoEntry
}

type memoEntry struct {
	f  pbx.Fields
	ok bool
}

func (c memoCatalog) Get(table, key string) (pbx.Fields, bool) {
	k := [2]string{table, key}
	if e, hit := c.m[k]; hit {
		return e.f, e.ok
	}
	f, ok := c.Lister.Get(table, key)
	c.m[k] = memoEntry{f, ok}
	return f, ok
}

// unmappable names the table, column and row of a value the pbx model
// refuses, and the fix.
func unmappable(t *TableMap, row Row, err error) error {
	var ve *pbx.ValidationError
	column := ""
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		parts := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			parts[i] = fmt.Sprintf("column %s: %s", t.columnOf(p.Field), p.Msg)
		}
		column = t.columnOf(ve.Problems[0].Field)
		err = errors.New(strings.Join(parts, "; "))
	}
	e := fmt.Errorf("%s: %v: %w it to a pbx %s", rowKey(t, row), err, ErrUnmappable, t.Store.Noun)
	if column == "" {
		return e
	}
	return &parkError{column: column, err: e,
		fix: fmt.Sprintf("set %s to a value pbxtopo takes (UPDATE %s SET %s = ... WHERE %s), or set the extension in pbxtopo (pbxtopo ext set), which rewrites the row",
			column, ident(t.Name), ident(column), keyText(t, row))}
}

// columnOf names the MySQL column that feeds a pbx field.
func (t *TableMap) columnOf(field string) string {
	switch {
	case field == "cluster" && t.ClusterColumn != "":
		return t.ClusterColumn
	case field == t.numberField() && t.NumberColumn != "":
		return t.NumberColumn
	}
	for _, c := range t.Columns {
		if (c.Field == field && !c.outOnly()) || (c.MailboxNumber && field == "mailbox") {
			return c.Name
		}
	}
	return field + " (pbx field)"
}
