package store

import (
	"slices"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// Node is one change of a record that not every replica has seen yet:
// the record's change graph. It lets the view tell, for each field, which
// live version changed it last (see DESIGN.md, field-level merge).
type Node struct {
	Dot     Dot
	Context []Dot    // the versions the change superseded
	Set     []string // the fields it set; nil: every field
	HLC     HLC
	Author  string
	Deleted bool
	// Value is the record as the change left it, kept once its version,
	// one of several live ones, was superseded here: a value it set may
	// still be shown (the loser of a field conflict). Nil otherwise.
	Value []byte
}

// dot is the node's dot; zero for none (stable).
func (n *Node) dot() Dot {
	if n == nil {
		return Dot{}
	}
	return n.Dot
}

// sets reports whether the change set a field of merge unit u.
func (n *Node) sets(table, u string) bool {
	if n.Set == nil || u == pbx.WholeRecord {
		return true
	}
	for _, f := range n.Set {
		if pbx.MergeUnit(table, f) == u {
			return true
		}
	}
	return false
}

// Side is one value of a merge unit in conflict, or one side of a
// record-level conflict.
type Side struct {
	Dot     Dot
	HLC     HLC
	Author  string
	Deleted bool
	// Fields are the unit's values on this side (the whole record for a
	// record-level side); a field absent is empty.
	Fields pbx.Fields
}

// FieldConflict is a merge unit (a field, a group of fields that change
// together, or pbx.WholeRecord) whose concurrent changes set different
// values. The winner, first, is shown; every replica picks the same.
type FieldConflict struct {
	Unit   string
	Fields []string // the unit's fields (nil: the whole record)
	Sides  []Side
}

// view is what a record shows: its live versions merged field by field.
type view struct {
	value     []byte     // the merged fields; nil when the record is deleted
	fields    pbx.Fields // decoded value (nil when deleted)
	conflicts []FieldConflict
	// record is set for a record-level conflict: a deleted side against a
	// live one, or a merge that would break a rule of the model (reason).
	record bool
	reason string
}

// Value returns the record's fields as it shows them (its live versions
// merged field by field), encoded; nil when it is deleted.
func (r *Record) Value() []byte {
	if r.single() { // the one version as it is, nothing to merge or decode
		if r.Versions[0].Deleted {
			return nil
		}
		return r.Versions[0].Value
	}
	return r.view().value
}

// Fields returns the record's fields as it shows them; ok is false when
// it is deleted.
func (r *Record) Fields() (f pbx.Fields, ok bool) {
	v := r.view()
	return v.fields, v.value != nil
}

// Conflicts returns the record's conflicts: per merge unit whose
// concurrent changes disagree, and one for a record-level conflict.
func (r *Record) Conflicts() []FieldConflict { return r.view().conflicts }

// RecordConflict reports a record-level conflict (a deletion concurrent
// with a change, or a merge that breaks a rule) and why.
func (r *Record) RecordConflict() (bool, string) {
	v := r.view()
	return v.record, v.reason
}

func (r *Record) view() *view {
	if r.cached == nil {
		r.cached = computeView(r)
	}
	return r.cached
}

// computeView merges a record's live versions. With one live version and
// no change in its past that merged concurrent ones, it is that version.
func computeView(r *Record) *view {
	if len(r.Versions) == 0 {
		return &view{}
	}
	var alive, deleted []Version
	for _, v := range r.Versions {
		if v.Deleted {
			deleted = append(deleted, v)
		} else {
			alive = append(alive, v)
		}
	}
	if len(alive) == 0 {
		return &view{}
	}
	var out *view
	if len(alive) == 1 && !r.hasMerges() {
		out = &view{value: alive[0].Value}
	} else {
		out = newMerger(r).merge(alive)
	}
	if out.fields == nil {
		f, err := pbx.DecodeFields(out.value)
		if err != nil {
			f = pbx.Fields{} // a damaged value shows empty; Check reports it
		}
		out.fields = f
	}
	if len(deleted) > 0 {
		// A deletion concurrent with a change: the sides are "deleted"
		// and the record with that change applied; the winner version
		// decides what shows meanwhile.
		side := Side{Dot: alive[0].Dot, HLC: alive[0].HLC, Author: alive[0].Author, Fields: out.fields}
		c := FieldConflict{Unit: pbx.WholeRecord}
		for _, d := range deleted {
			c.Sides = append(c.Sides, Side{Dot: d.Dot, HLC: d.HLC, Author: d.Author, Deleted: true})
		}
		c.Sides = append(c.Sides, side)
		sortSides(c.Sides)
		out.conflicts = append([]FieldConflict{c}, out.conflicts...)
		out.record, out.reason = true, "deleted on one side, changed on the other"
		if r.Versions[0].Deleted {
			out.value, out.fields = nil, nil
		}
	}
	return out
}

// merger computes the field-level merge of a record's live versions over
// its change graph.
type merger struct {
	r     *Record
	graph map[Dot]*Node
	live  map[Dot]Version
}

func newMerger(r *Record) *merger {
	g, _ := r.nodes() // a graph that does not decode counts as none; Check reports it
	m := &merger{r: r, graph: make(map[Dot]*Node, len(g)), live: make(map[Dot]Version, len(r.Versions))}
	for i := range g {
		m.graph[g[i].Dot] = &g[i]
	}
	for _, v := range r.Versions {
		m.live[v.Dot] = v
	}
	return m
}

// node returns the graph node of a dot, or a node that sets every field
// for a version the graph does not hold (stable, or an older format's).
func (m *merger) node(v Version) *Node {
	if n, ok := m.graph[v.Dot]; ok {
		return n
	}
	return &Node{Dot: v.Dot, HLC: v.HLC, Author: v.Author, Deleted: v.Deleted}
}

// setter is a change that set a merge unit last on some path, or stable:
// a change every replica has seen (the graph no longer holds it), in the
// past of every change the graph holds. src is the nearest value known on
// the path the walk took to it (a live version's, or a superseded
// sibling's kept value): no change between them set the unit, so it holds
// the setter's value when the setter kept none.
type setter struct {
	n   *Node // nil: stable
	src []byte
}

// setters returns the changes that set unit u last in the past of the
// live versions, the ones in another's past removed.
func (m *merger) setters(alive []Version, u string) []setter {
	var found []setter
	seen := map[Dot]bool{}
	var walk func(n *Node, src []byte)
	walk = func(n *Node, src []byte) {
		if seen[n.Dot] {
			return
		}
		seen[n.Dot] = true
		if n.Value != nil {
			src = n.Value
		}
		if n.sets(m.r.Table, u) {
			found = append(found, setter{n, src})
			return
		}
		if len(n.Context) == 0 {
			found = append(found, setter{nil, src})
		}
		for _, p := range n.Context {
			if pn, ok := m.graph[p]; ok {
				walk(pn, src)
			} else if !slices.ContainsFunc(found, func(s setter) bool { return s.n == nil }) {
				found = append(found, setter{nil, src})
			}
		}
	}
	for _, v := range alive {
		walk(m.node(v), v.Value)
	}
	var out []setter
	for i, a := range found {
		newer := false
		for j, b := range found {
			if i != j && m.before(a, b) {
				newer = true
				break
			}
		}
		if !newer {
			out = append(out, a)
		}
	}
	return out
}

// before reports whether a is in the past of b.
func (m *merger) before(a, b setter) bool {
	switch {
	case b.n == nil:
		return false
	case a.n == nil:
		return true // stable: in the past of every change the graph holds
	}
	seen := map[Dot]bool{}
	stack := slices.Clone(b.n.Context)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if d == a.n.Dot {
			return true
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		if n, ok := m.graph[d]; ok {
			stack = append(stack, n.Context...)
		}
	}
	return false
}

// valueOf returns the fields of unit u as setter s left them: its kept
// values, its version's, or those of the live version whose walk found it
// (no change between them set u, so they agree).
func (m *merger) valueOf(s setter, u string) (pbx.Fields, bool) {
	var raw []byte
	switch v, live := m.live[s.n.dot()]; {
	case s.n != nil && live:
		raw = v.Value
	default:
		raw = s.src // the node's own kept value when it has one (walk)
	}
	f, err := pbx.DecodeFields(raw)
	if err != nil {
		return nil, false
	}
	return unitValues(m.r.Table, u, f), true
}

// unitValues returns the fields of f that belong to unit u.
func unitValues(table, u string, f pbx.Fields) pbx.Fields {
	if u == pbx.WholeRecord {
		return f
	}
	out := pbx.Fields{}
	for k, v := range f {
		if pbx.MergeUnit(table, k) == u {
			out[k] = v
		}
	}
	return out
}

// merge merges the live versions unit by unit.
func (m *merger) merge(alive []Version) *view {
	units := m.units(alive)
	merged := pbx.Fields{}
	out := &view{}
	for _, u := range units {
		var sides []Side
		for _, s := range m.setters(alive, u) {
			f, ok := m.valueOf(s, u)
			if !ok {
				continue
			}
			side := Side{Fields: f}
			if s.n != nil {
				side.Dot, side.HLC, side.Author = s.n.Dot, s.n.HLC, s.n.Author
			}
			if !slices.ContainsFunc(sides, func(o Side) bool { return o.Fields.Equal(f) }) {
				sides = append(sides, side)
			}
		}
		if len(sides) == 0 {
			continue
		}
		sortSides(sides)
		for k, v := range sides[0].Fields {
			merged[k] = v
		}
		if len(sides) > 1 {
			out.conflicts = append(out.conflicts, FieldConflict{Unit: u, Fields: pbx.UnitFields(m.r.Table, u), Sides: sides})
		}
	}
	merged.Compact()
	out.fields, out.value = merged, merged.AppendBinary(nil)
	if len(alive) > 1 {
		if t, err := pbx.LookupTable(m.r.Table); err == nil {
			if _, err := t.Check(merged); err != nil {
				// The merge breaks a rule that spans fields: show the
				// record-level sides instead of an invalid record.
				out.record, out.reason = true, "the merged record would break a rule: "+err.Error()
				out.value = alive[0].Value
				out.fields = nil
				c := FieldConflict{Unit: pbx.WholeRecord}
				for _, v := range alive {
					f, _ := pbx.DecodeFields(v.Value)
					c.Sides = append(c.Sides, Side{Dot: v.Dot, HLC: v.HLC, Author: v.Author, Fields: f})
				}
				out.conflicts = []FieldConflict{c}
			}
		}
	}
	return out
}

// units lists the merge units of the fields the live versions and the
// graph's kept values hold, in order.
func (m *merger) units(alive []Version) []string {
	seen := map[string]bool{}
	add := func(raw []byte) {
		f, err := pbx.DecodeFields(raw)
		if err != nil {
			return
		}
		for k := range f {
			seen[pbx.MergeUnit(m.r.Table, k)] = true
		}
	}
	for _, v := range alive {
		add(v.Value)
	}
	for _, n := range m.graph {
		if n.Value != nil {
			add(n.Value)
		}
		for _, f := range n.Set {
			seen[pbx.MergeUnit(m.r.Table, f)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// sortSides orders sides as versions are ordered: the greater (hlc,
// stream, seq) first; a stable side (no dot) last.
func sortSides(sides []Side) {
	slices.SortStableFunc(sides, func(a, b Side) int {
		switch {
		case wins(Version{Dot: a.Dot, HLC: a.HLC}, Version{Dot: b.Dot, HLC: b.HLC}):
			return -1
		case wins(Version{Dot: b.Dot, HLC: b.HLC}, Version{Dot: a.Dot, HLC: a.HLC}):
			return 1
		}
		return 0
	})
}
