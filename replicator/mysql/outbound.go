package mysql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

type recRef struct{ table, key string }

// outbound is one session of writing store changes to MySQL.
type outbound struct {
	b       *Bridge
	conn    *client.Conn
	nb      bool // NO_BACKSLASH_ESCAPES
	schemas map[string]*tableSchema
	// written holds, per hold key, the hold of the row this bridge last
	// wrote: when MySQL stores a value differently from how it was
	// written, the echo differs from the winner, and writing it again
	// would change nothing: this breaks that loop.
	written map[string][]byte
}

// runOutbound follows the store's changes and writes every record whose
// winner differs from what MySQL holds. It starts with a full pass: the
// holds, not a stored feed position, say what MySQL has.
func (b *Bridge) runOutbound(ctx context.Context) error {
	conn, err := connect(ctx, b.dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	modes, err := queryStrings(conn, "SELECT @@sql_mode")
	if err != nil || len(modes) != 1 {
		return fmt.Errorf("read sql_mode: %v", err)
	}
	o := &outbound{b: b, conn: conn, nb: strings.Contains(str(modes[0][0]), "NO_BACKSLASH_ESCAPES"),
		schemas: map[string]*tableSchema{}, written: map[string][]byte{}}
	if err := o.loadSchemas(); err != nil {
		return err
	}
	all := func(store.Stream) bool { return true }
	mapped := map[string]bool{}
	for _, t := range b.tables {
		mapped[t.Store.Name] = true
	}
	var summary store.Summary
	var woken []string // a dirty key that woke the loop
	full, lastFull := true, time.Now()
	lastRetry := time.Now()
	for {
		changed := b.st.Changed()
		refs := map[recRef]bool{}
		more, wasFull := false, full
		if full {
			if summary, err = o.allRecords(refs); err != nil {
				return err
			}
			full, lastFull = false, time.Now()
		} else {
			batch, err := b.st.ChangesSince(summary, all, 1<<20)
			if err != nil {
				return err
			}
			if batch.NeedSnapshot {
				full = true
				continue
			}
			for _, c := range batch.Changes {
				if mapped[c.Table] {
					refs[recRef{c.Table, c.Key}] = true
				}
				if c.Table == pbx.Clusters.Name {
					full = true // a failover list may name this cluster now, or no longer
				}
				if c.Dot.Seq > summary[c.Dot.Stream] {
					summary[c.Dot.Stream] = c.Dot.Seq
				}
			}
			if more = batch.More; !more {
				for s, n := range batch.Summary {
					summary[s] = max(summary[s], n)
				}
			}
		}
		dirty := map[recRef]bool{}
		for _, k := range woken {
			table, key, _ := strings.Cut(k, "\x00")
			dirty[recRef{table, key}] = true
		}
		woken = woken[:0]
		if time.Since(lastRetry) > parkRetryOut {
			// Parked records again, with the columns as they are now (an
			// admin may have widened one).
			lastRetry = time.Now()
			if err := o.loadSchemas(); err != nil {
				return err
			}
			for _, hk := range b.parkedOutKeys() {
				if r, ok := o.refOfHold(hk); ok {
					dirty[r] = true
				}
			}
		}
	drain:
		for {
			select {
			case k := <-b.dirty:
				table, key, _ := strings.Cut(k, "\x00")
				dirty[recRef{table, key}] = true
			default:
				break drain
			}
		}
		if err := o.push(ctx, refs, dirty); err != nil {
			return err
		}
		if wasFull {
			b.update(func(s *BridgeStatus) { s.FullPasses++ })
		}
		if more || full {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case k := <-b.dirty:
			woken = append(woken, k)
		case <-time.After(time.Until(lastFull.Add(b.cfg.FullPassEvery))):
			full = true
		case <-time.After(o.retryWait(lastRetry)):
		}
	}
}

// parkRetryOut is how often parked records are tried again.
const parkRetryOut = 30 * time.Second

func (o *outbound) retryWait(last time.Time) time.Duration {
	if len(o.b.parkedOutKeys()) == 0 {
		return o.b.cfg.FullPassEvery
	}
	return max(time.Millisecond, time.Until(last.Add(parkRetryOut)))
}

func (o *outbound) loadSchemas() error {
	for _, t := range o.b.tables {
		s, err := loadSchema(o.conn, o.b.dsn.Database, t.Name)
		if err != nil {
			return err
		}
		if err := checkTable(o.conn, o.b.dsn.Database, t, s); err != nil {
			return err
		}
		o.schemas[t.Name] = s
	}
	return nil
}

// refOfHold returns the record of a hold key.
func (o *outbound) refOfHold(hk string) (recRef, bool) {
	rest := strings.TrimPrefix(hk, "mysql/"+o.b.cfg.Name+"/hold/")
	for _, t := range o.b.tables {
		if key, ok := strings.CutPrefix(rest, t.Name+"/"); ok {
			return recRef{t.Store.Name, key}, true
		}
	}
	return recRef{}, false
}

// allRecords adds every record of the mapped tables to refs and returns
// the summary they are as of.
func (o *outbound) allRecords(refs map[recRef]bool) (store.Summary, error) {
	var sum store.Summary
	err := o.b.st.View(func(sn *store.Snapshot) error {
		var err error
		if sum, err = sn.Summary(); err != nil {
			return err
		}
		done := map[string]bool{}
		for _, t := range o.b.tables {
			if done[t.Store.Name] {
				continue
			}
			done[t.Store.Name] = true
			err := sn.ScanRecords(t.Store.Name, func(r *store.Record) error {
				refs[recRef{r.Table, r.Key}] = true
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return sum, err
}

// op is one row to write or delete.
type op struct {
	t      *TableMap
	row    Row // nil: delete
	key    Row
	moved  Row // a voicemail box the record had before: deleted first
	holdK  string
	wanted []byte
	record string // "extensions/tpa1/6109", for messages
}

// push writes the records of refs (and the dirty ones, which MySQL's echo
// showed to differ) whose winner differs from their hold, BatchRows rows
// per SQL transaction.
func (o *outbound) push(ctx context.Context, refs, dirty map[recRef]bool) error {
	list := make([]recRef, 0, len(refs)+len(dirty))
	for r := range refs {
		list = append(list, r)
	}
	for r := range dirty {
		if !refs[r] {
			list = append(list, r)
		}
	}
	slices.SortFunc(list, func(a, b recRef) int {
		if c := strings.Compare(a.table, b.table); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	for start := 0; start < len(list); start += o.b.cfg.BatchRows {
		if ctx.Err() != nil {
			return nil
		}
		chunk := list[start:min(start+o.b.cfg.BatchRows, len(list))]
		ops, err := o.plan(chunk, dirty)
		if err != nil {
			return err
		}
		if err := o.apply(ops); err != nil {
			return err
		}
	}
	return nil
}

// inScope reports whether table t holds a record: every cluster's when it
// has a cluster column; else this cluster's, and those of the clusters
// that fail over to this one (standby: their phones register here when
// their own cluster is down), unless this cluster has the same number.
// A standby row whose record left the scope (the failover list changed)
// is deleted, unless this cluster's own extension of that number holds
// the row now.
func (o *outbound) inScope(sn *store.Snapshot, t *TableMap, key string, standby []string) (in, deleteRow bool) {
	if t.ClusterColumn != "" || strings.HasPrefix(key, o.b.cluster+"/") {
		return true, false
	}
	if t.ByMailbox {
		return false, false
	}
	cluster, number, _ := strings.Cut(key, "/")
	_, ownLive, _ := winnerFields(sn, t.Store.Name, pbx.Extensions.KeyOf(pbx.Fields{"cluster": o.b.cluster, "regexten": number}))
	if slices.Contains(standby, cluster) && !ownLive {
		return true, false
	}
	return false, !ownLive
}

func (o *outbound) plan(refs []recRef, dirty map[recRef]bool) ([]op, error) {
	var ops []op
	err := o.b.st.View(func(sn *store.Snapshot) error {
		standby := standbyOf(sn, o.b.cluster)
		raws, err := winnerValues(sn, refs)
		if err != nil {
			return err
		}
		for _, r := range refs {
			// The hold is compared with the record's binary form: the
			// fields are decoded only for a row to write.
			raw := raws[r]
			var f pbx.Fields
			for _, t := range o.b.tables {
				if t.Store.Name != r.table {
					continue
				}
				in, deleteRow := o.inScope(sn, t, r.key, standby)
				hk := o.b.holdKey(t.Name, r.key)
				want, err := rawHold(t, raw)
				if err != nil {
					return fmt.Errorf("store: %s/%s: %w", r.table, r.key, err)
				}
				hold := sn.Local(hk)
				switch {
				case in:
				case deleteRow && hold != nil && !bytes.Equal(hold, absent):
					want = absent
				default:
					continue
				}
				switch {
				case bytes.Equal(hold, want):
					o.b.unparkOut(hk)
					continue
				case dirty[r] && bytes.Equal(o.written[hk], want):
					continue
				case bytes.Equal(want, absent) && hold == nil:
					o.b.unparkOut(hk)
					continue // MySQL never had it
				}
				p := op{t: t, holdK: hk, wanted: want, record: r.table + "/" + r.key}
				if p.key, err = o.rowKeyOf(t, r.key, want, hold); err != nil {
					return err
				}
				if t.ByMailbox && holdBox(hold) != "" && holdBox(hold) != holdBox(want) && !bytes.Equal(want, absent) {
					p.moved = boxRow(t, holdBox(hold))
				}
				if !bytes.Equal(want, absent) {
					if f == nil {
						if f, err = pbx.DecodeFields(raw); err != nil {
							return fmt.Errorf("store: %s/%s: %w", r.table, r.key, err)
						}
					}
					if p.row, err = t.FromFields(r.key, f); err != nil {
						return err
					}
					if park, bad := o.check(t, r, f, p.row); bad {
						o.b.parkOut(hk, park)
						continue
					}
				}
				ops = append(ops, p)
			}
		}
		return nil
	})
	return ops, err
}

// winnerValues reads the binary form of the records of refs, a table at a
// time; a deleted or absent record has none.
func winnerValues(sn *store.Snapshot, refs []recRef) (map[recRef][]byte, error) {
	out := make(map[recRef][]byte, len(refs))
	byTable := map[string][]string{}
	for _, r := range refs {
		byTable[r.table] = append(byTable[r.table], r.key)
	}
	for table, keys := range byTable {
		err := sn.Values(table, keys, func(key string, v []byte) error {
			out[recRef{table, key}] = bytes.Clone(v)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rowKeyOf returns the key columns of a record's row: a voicemail row's
// from the box the record wants, or held when it wants none.
func (o *outbound) rowKeyOf(t *TableMap, key string, want, hold []byte) (Row, error) {
	if t.ByMailbox {
		box := holdBox(want)
		if box == "" {
			box = holdBox(hold)
		}
		return boxRow(t, box), nil
	}
	cluster, number, err := t.splitKey(key)
	if err != nil {
		return nil, err
	}
	row := Row{t.NumberColumn: strp(number)}
	if t.ClusterColumn != "" {
		row[t.ClusterColumn] = strp(cluster)
	}
	return row, nil
}

// boxRow is the key of a voicemail row for a box NUMBER@CONTEXT.
func boxRow(t *TableMap, box string) Row {
	n, ctx, _ := strings.Cut(box, "@")
	k := t.KeyColumns()
	return Row{k[0]: strp(ctx), k[1]: strp(n)}
}

// check parks a row whose values the table's columns cannot hold,
// naming the record, the column and the fix.
func (o *outbound) check(t *TableMap, r recRef, f pbx.Fields, row Row) (ParkedRow, bool) {
	s := o.schemas[t.Name]
	for _, c := range t.MappedColumns() {
		col, ok := s.col(strings.ToLower(c))
		if !ok {
			continue
		}
		problem := col.checkValue(row[c])
		if problem == "" {
			continue
		}
		field := fieldOfColumn(t, c)
		noun := t.Store.Noun + " " + r.key
		fix := fmt.Sprintf("change %s of %s in pbxtopo (pbxtopo ext set %s %s=...)", field, noun, r.key, field)
		switch {
		case row[c] == nil:
			fix = fmt.Sprintf("set %s of %s (pbxtopo ext set %s %s=...)", field, noun, r.key, field)
		case col.CharMax > 0:
			fix = fmt.Sprintf("shorten %s of %s to %d characters (pbxtopo ext set %s %s=...), or widen the column (ALTER TABLE %s MODIFY %s VARCHAR(%d))",
				field, noun, col.CharMax, r.key, field, ident(t.Name), ident(c), utf8.RuneCountInString(*row[c]))
		}
		return ParkedRow{Side: ParkedOut, Table: t.Name, Row: rowKey(t, row), Key: keyMap(t, row), Record: r.table + "/" + r.key,
			Column: c, Problem: fmt.Sprintf("%s: %s.%s", noun, t.Name, problem), Fix: fix, Since: time.Now().UTC()}, true
	}
	return ParkedRow{}, false
}

// fieldOfColumn names the pbx field a column is written from.
func fieldOfColumn(t *TableMap, c string) string {
	for _, col := range t.Columns {
		if col.Name == c {
			switch {
			case col.MailboxContext || col.MailboxNumber:
				return "mailbox"
			case col.Field != "":
				return col.Field
			case col.Name == "auth" || col.Name == "auth_type":
				return "secret"
			}
			return col.Name
		}
	}
	return c
}

func keyMap(t *TableMap, row Row) map[string]string {
	m := map[string]string{}
	for _, c := range t.KeyColumns() {
		m[c] = str(row[c])
	}
	return m
}

// apply runs ops as one SQL transaction that starts with the marker. When
// MySQL refuses it, each op is tried alone and those it still refuses are
// parked with MySQL's error.
func (o *outbound) apply(ops []op) error {
	if len(ops) == 0 {
		return nil
	}
	err := o.applyTx(ops)
	if err == nil || !isRowError(err) {
		return err
	}
	for _, p := range ops {
		if err := o.applyTx([]op{p}); err != nil {
			if !isRowError(err) {
				return err
			}
			o.b.parkOut(p.holdK, ParkedRow{Side: ParkedOut, Table: p.t.Name, Row: rowKey(p.t, p.key), Key: keyMap(p.t, p.key), Record: p.record,
				Problem: fmt.Sprintf("%s: MySQL refused the row: %v", p.record, err),
				Fix:     fmt.Sprintf("change the record in pbxtopo, or the table %s, so that MySQL takes the row", p.t.Name), Since: time.Now().UTC()})
		}
	}
	return nil
}

// isRowError reports whether MySQL refused a statement for its values
// (rather than for the connection or the server).
func isRowError(err error) bool {
	var me *gmysql.MyError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Code {
	case 1048, 1062, 1264, 1265, 1292, 1364, 1366, 1406, 1452, 3819, 4025:
		// NOT NULL, duplicate key, out of range, truncated, bad value, no
		// default, bad string, too long, foreign key, check constraint
		return true
	}
	return false
}

func (o *outbound) applyTx(ops []op) error {
	if err := o.conn.Begin(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	fail := func(what string, err error) error {
		o.conn.Rollback()
		return fmt.Errorf("write %d rows to MySQL: %s: %w", len(ops), clip(what, 300), err)
	}
	if _, err := o.conn.Execute(o.b.markStatement(o.nb)); err != nil {
		return fail("marker", err)
	}
	for _, t := range o.b.tables {
		var ups, dels []Row
		for _, p := range ops {
			if p.t != t {
				continue
			}
			if p.moved != nil {
				dels = append(dels, p.moved)
			}
			if p.row != nil {
				ups = append(ups, p.row)
			} else {
				dels = append(dels, p.key)
			}
		}
		if len(dels) > 0 {
			q := deleteSQL(t, dels, o.nb)
			if _, err := o.conn.Execute(q); err != nil {
				return fail(q, err)
			}
		}
		if len(ups) == 0 {
			continue
		}
		s := o.schemas[t.Name]
		if s.unique {
			q := upsertSQL(t, s, ups, o.nb)
			if _, err := o.conn.Execute(q); err != nil {
				return fail(q, err)
			}
			continue
		}
		if err := o.updateOrInsert(t, s, ups); err != nil {
			return fail("update or insert "+t.Name, err)
		}
	}
	if err := o.conn.Commit(); err != nil {
		return fmt.Errorf("commit %d rows to MySQL: %w", len(ops), err)
	}
	for _, p := range ops {
		o.written[p.holdK] = p.wanted
		o.b.unparkOut(p.holdK)
		o.b.log.Debug("wrote a row to MySQL", "row", rowKey(p.t, p.key), "record", p.record, "delete", p.row == nil)
	}
	o.b.update(func(s *BridgeStatus) { s.RowsOut += uint64(len(ops)); s.TxnsOut++ })
	return nil
}

// updateOrInsert writes rows of a table with no unique key on the key
// columns (Asterisk's voicemail): the rows found (locked) are updated, the
// others inserted.
func (o *outbound) updateOrInsert(t *TableMap, s *tableSchema, rows []Row) error {
	keys := t.KeyColumns()
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = ident(k)
	}
	found, err := queryStrings(o.conn, "SELECT "+strings.Join(q, ", ")+" FROM "+ident(t.Name)+" WHERE "+keyWhere(t, rows, o.nb)+" FOR UPDATE")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, f := range found {
		var parts []string
		for _, v := range f {
			parts = append(parts, str(v))
		}
		have[strings.Join(parts, "\x00")] = true
	}
	var inserts []Row
	for _, r := range rows {
		if !have[rowIdentity(t, r)] {
			inserts = append(inserts, r)
			continue
		}
		if _, err := o.conn.Execute(updateSQL(t, s, r, o.nb)); err != nil {
			return err
		}
	}
	if len(inserts) > 0 {
		_, err = o.conn.Execute(insertSQL(t, s, inserts, o.nb))
	}
	return err
}
