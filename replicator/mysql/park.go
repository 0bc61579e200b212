package mysql

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// A row that cannot be taken in (a value the pbx model refuses, a record
// in conflict, a voicemail box no extension has) or written out (a value
// Asterisk's column cannot hold, a NOT NULL column with no value, a MySQL
// error on that row) is parked: reported with its key, column and the fix,
// left out of the write, and everything else goes on. See DESIGN.md.

// The sides of a parked row.
const (
	ParkedIn  = "in"  // a MySQL row the store did not take
	ParkedOut = "out" // a record MySQL did not take
)

// ParkedRow is one parked row, as 'pbxtopo repl status' shows it.
type ParkedRow struct {
	Side     string            `json:"side"`
	Table    string            `json:"table"`            // the MySQL table
	Row      string            `json:"row"`              // "ps_endpoints row id=6109"
	Key      map[string]string `json:"key"`              // the row's key columns
	Record   string            `json:"record,omitempty"` // the store record, "extensions/tpa1/6109"
	Column   string            `json:"column,omitempty"`
	Problem  string            `json:"problem"`
	Fix      string            `json:"fix"`
	Position string            `json:"position,omitempty"` // binlog file:pos of the row (in)
	Since    time.Time         `json:"since"`
}

// parkError says why a row is parked: the column and the fix.
type parkError struct {
	column, fix string
	err         error
}

func (e *parkError) Error() string { return e.err.Error() }
func (e *parkError) Unwrap() error { return e.err }

// parkID names a row among the parks: its table and key values.
func parkID(t *TableMap, row Row) string {
	var parts []string
	for _, c := range t.KeyColumns() {
		parts = append(parts, strings.TrimSpace(str(row[c])))
	}
	return t.Name + "/" + strings.Join(parts, "\x00")
}

// The inbound parks are JSON objects (park id → row) in the store's local
// space, written with the changes and the checkpoint. One local value
// holds at most a megabyte, so they are cut in parts of at most
// parkPartBytes: "mysql/NAME/parked", then "mysql/NAME/parked/1", ... A
// thousand bad rows must not stop the bridge that parks them.
const parkPartBytes = 256 << 10

func (b *Bridge) parkedKey(part int) string {
	if part == 0 {
		return "mysql/" + b.cfg.Name + "/parked"
	}
	return fmt.Sprintf("mysql/%s/parked/%d", b.cfg.Name, part)
}

// readParks reads every part, and how many there are.
func (b *Bridge) readParks(sn *store.Snapshot) (map[string]ParkedRow, int) {
	m := map[string]ParkedRow{}
	parts := 0
	for ; ; parts++ {
		raw := sn.Local(b.parkedKey(parts))
		if len(raw) == 0 {
			return m, parts
		}
		var part map[string]ParkedRow
		json.Unmarshal(raw, &part)
		for id, p := range part {
			m[id] = p
		}
	}
}

// writeParks puts m into local as parts and removes the parts left over
// from the had parts there were.
func (b *Bridge) writeParks(local map[string][]byte, m map[string]ParkedRow, had int) {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := 0
	part, size := map[string]ParkedRow{}, 0
	flush := func() {
		raw, _ := json.Marshal(part)
		local[b.parkedKey(parts)] = raw
		parts++
		part, size = map[string]ParkedRow{}, 0
	}
	for _, id := range ids {
		one, _ := json.Marshal(m[id])
		if size > 0 && size+len(one)+len(id)+8 > parkPartBytes {
			flush()
		}
		part[id] = m[id]
		size += len(one) + len(id) + 8
	}
	if len(part) > 0 {
		flush()
	}
	for i := parts; i < had; i++ {
		local[b.parkedKey(i)] = nil // removes the key
	}
}

// newPark describes a row the store refused.
func newPark(t *TableMap, row Row, record, pos string, err error) ParkedRow {
	p := ParkedRow{Side: ParkedIn, Table: t.Name, Row: rowKey(t, row), Key: map[string]string{}, Problem: err.Error(),
		Position: pos, Since: time.Now().UTC(), Record: record}
	for _, c := range t.KeyColumns() {
		p.Key[c] = str(row[c])
	}
	var pe *parkError
	var ce *store.ConflictError
	var ve *pbx.ValidationError
	switch {
	case errors.As(err, &pe):
		p.Column, p.Fix = pe.column, pe.fix
	case errors.As(err, &ce):
		p.Fix = fmt.Sprintf("resolve the conflict (pbxtopo conflicts show %s/%s), then the row applies", ce.Table, ce.Key)
		if len(ce.Conflicts) > 0 && len(ce.Conflicts[0].Fields) > 0 {
			p.Column = t.columnOf(ce.Conflicts[0].Fields[0])
		}
	case errors.As(err, &ve) && len(ve.Problems) > 0:
		p.Column = t.columnOf(ve.Problems[0].Field)
		p.Fix = fmt.Sprintf("set %s of %s to a value pbxtopo takes (UPDATE %s SET %s = ... WHERE %s), or set the extension in pbxtopo (pbxtopo ext set), which rewrites the row",
			p.Column, p.Row, t.Name, p.Column, keyText(t, row))
	default:
		p.Fix = fmt.Sprintf("fix %s in MySQL or the extension in pbxtopo; the row applies once it can", p.Row)
	}
	if p.Column == "" {
		p.Column = t.KeyColumns()[len(t.KeyColumns())-1]
	}
	return p
}

func keyText(t *TableMap, row Row) string {
	var parts []string
	for _, c := range t.KeyColumns() {
		parts = append(parts, ident(c)+" = "+quote(str(row[c]), false))
	}
	return strings.Join(parts, " AND ")
}

// Parked returns the parked rows, inbound first, then by table and row.
func (b *Bridge) Parked() []ParkedRow {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.parkedLocked()
}

func (b *Bridge) parkedLocked() []ParkedRow {
	out := make([]ParkedRow, 0, len(b.parkedIn)+len(b.parkedOut))
	for _, p := range b.parkedIn {
		out = append(out, p)
	}
	for _, p := range b.parkedOut {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, c := out[i], out[j]
		if a.Side != c.Side {
			return a.Side < c.Side
		}
		if a.Table != c.Table {
			return a.Table < c.Table
		}
		return a.Row < c.Row
	})
	return out
}

// loadParked reads the inbound parks from the store's local space.
func (b *Bridge) loadParked() error {
	var parks map[string]ParkedRow
	if err := b.st.View(func(sn *store.Snapshot) error { parks, _ = b.readParks(sn); return nil }); err != nil {
		return err
	}
	b.setParkedIn(parks)
	return nil
}

func (b *Bridge) setParkedIn(m map[string]ParkedRow) {
	b.mu.Lock()
	b.parkedIn = m
	b.mu.Unlock()
}

func (b *Bridge) parkOut(holdKey string, p ParkedRow) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.parkedOut[holdKey]; ok && old.Problem == p.Problem {
		p.Since = old.Since
	}
	b.parkedOut[holdKey] = p
}

func (b *Bridge) unparkOut(holdKey string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.parkedOut, holdKey)
}

func (b *Bridge) parkedOutKeys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.parkedOut))
	for k := range b.parkedOut {
		out = append(out, k)
	}
	return out
}
