package mysql

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/pbxtopo/pbxtopo/store"
)

// fullPassEvery is how often the outbound side compares every record with
// its hold, whatever the change feed said.
const fullPassEvery = 10 * time.Minute

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
	for _, t := range b.tables {
		if o.schemas[t.Name], err = loadSchema(conn, b.dsn.Database, t.Name); err != nil {
			return err
		}
	}
	all := func(store.Stream) bool { return true }
	mapped := map[string]bool{}
	for _, t := range b.tables {
		mapped[t.Store.Name] = true
	}
	var summary store.Summary
	var woken []string // a dirty key that woke the loop
	full, lastFull := true, time.Now()
	for {
		changed := b.st.Changed()
		refs := map[recRef]bool{}
		more := false
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
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case k := <-b.dirty:
			woken = append(woken, k)
		case <-time.After(time.Until(lastFull.Add(fullPassEvery))):
			full = true
		}
	}
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
	holdK  string
	wanted []byte
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
	slices.SortFunc(list, func(a, b recRef) int { return strings.Compare(a.table+"\x00"+a.key, b.table+"\x00"+b.key) })
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

func (o *outbound) inScope(t *TableMap, key string) bool {
	return t.ClusterColumn != "" || strings.HasPrefix(key, o.b.cluster+"/")
}

func (o *outbound) plan(refs []recRef, dirty map[recRef]bool) ([]op, error) {
	var ops []op
	err := o.b.st.View(func(sn *store.Snapshot) error {
		for _, r := range refs {
			f, live, err := winnerFields(sn, r.table, r.key)
			if err != nil {
				return err
			}
			for _, t := range o.b.tables {
				if t.Store.Name != r.table || !o.inScope(t, r.key) {
					continue
				}
				hk := o.b.holdKey(t.Name, r.key)
				want := holdOf(t, f, live)
				hold := sn.Local(hk)
				switch {
				case bytes.Equal(hold, want):
					continue
				case dirty[r] && bytes.Equal(o.written[hk], want):
					continue
				case bytes.Equal(want, absent) && hold == nil:
					continue // MySQL never had it
				}
				kf, err := t.Store.ParseKey(r.key)
				if err != nil {
					return err
				}
				key := Row{t.NumberColumn: strp(kf[t.numberField()])}
				if t.ClusterColumn != "" {
					key[t.ClusterColumn] = strp(kf["cluster"])
				}
				p := op{t: t, key: key, holdK: hk, wanted: want}
				if !bytes.Equal(want, absent) {
					if p.row, err = t.FromFields(r.key, f); err != nil {
						return err
					}
				}
				ops = append(ops, p)
			}
		}
		return nil
	})
	return ops, err
}

// apply runs ops as one SQL transaction that starts with the marker.
func (o *outbound) apply(ops []op) error {
	if len(ops) == 0 {
		return nil
	}
	stmts := []string{o.b.markStatement(o.nb)}
	for _, t := range o.b.tables {
		var ups, dels []Row
		for _, p := range ops {
			if p.t != t {
				continue
			}
			if p.row != nil {
				ups = append(ups, p.row)
			} else {
				dels = append(dels, p.key)
			}
		}
		if len(dels) > 0 {
			stmts = append(stmts, deleteSQL(t, dels, o.nb))
		}
		if len(ups) > 0 {
			stmts = append(stmts, upsertSQL(t, o.schemas[t.Name], ups, o.nb))
		}
	}
	if err := o.conn.Begin(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for _, s := range stmts {
		if _, err := o.conn.Execute(s); err != nil {
			o.conn.Rollback()
			return fmt.Errorf("write %d rows to MySQL: %s: %w", len(ops), clip(s, 300), err)
		}
	}
	if err := o.conn.Commit(); err != nil {
		return fmt.Errorf("commit %d rows to MySQL: %w", len(ops), err)
	}
	for _, p := range ops {
		o.written[p.holdK] = p.wanted
	}
	o.b.update(func(s *BridgeStatus) { s.RowsOut += uint64(len(ops)); s.TxnsOut++ })
	return nil
}
