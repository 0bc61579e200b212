package store

import (
	"fmt"
	"sort"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// The first byte of an encoded list of ops (a Raft entry). Format 2 adds
// patches and resolutions (Mutation.Patch, Resolve); an entry without them is written in
// format 1, so a node of the previous release still reads it, and one
// with them in format 2, which such a node refuses rather than misreads.
const (
	opsFormat1   = 1
	opsFormat2   = 2
	opsFormatMax = opsFormat2
)

// AppendOps appends the binary form of ops: what a Raft log entry holds.
func AppendOps(b []byte, ops []Op) []byte {
	e := encoder{b}
	format := byte(opsFormat1)
	for i := range ops {
		for _, m := range ops[i].Muts {
			if m.Patch != nil || m.Resolve != nil {
				format = opsFormat2
			}
		}
	}
	e.byte(format)
	e.uvarint(uint64(len(ops)))
	for i := range ops {
		e.op(&ops[i])
	}
	return e.b
}

func (e *encoder) op(op *Op) {
	e.byte(byte(op.Kind))
	switch op.Kind {
	case OpWrite:
		e.str(op.Author)
		e.uvarint(uint64(op.HLC))
		e.uvarint(uint64(len(op.Muts)))
		for i, m := range op.Muts {
			e.str(m.Table)
			e.str(m.Key)
			var flags byte
			if m.Value == nil && m.Patch == nil {
				flags |= 1
			}
			if m.SupersedeAll {
				flags |= 2
			}
			if m.Patch != nil {
				flags |= 4
			}
			if m.Resolve != nil {
				flags |= 8
			}
			e.byte(flags)
			e.bytes(m.Value)
			if m.Patch != nil {
				e.fields(m.Patch)
			}
			if m.Resolve != nil {
				e.strs(m.Resolve)
			}
			e.uvarint(uint64(len(m.IfMatch)))
			for _, d := range m.IfMatch {
				e.dot(d)
			}
			e.byte(byte(m.Must))
			scope := ""
			if op.Scopes != nil {
				scope = op.Scopes[i]
			}
			e.str(scope)
		}
		e.bytesMap(op.Local)
	case OpApply:
		e.uvarint(uint64(len(op.Changes)))
		for _, c := range op.Changes {
			e.bytes(AppendChange(nil, c))
		}
	case OpRevert:
		e.str(op.Author)
		e.uvarint(uint64(op.HLC))
		e.dot(op.Revert)
	case OpStatus:
		e.bytesMap(op.Status)
	case OpMerge:
		p := op.Page
		e.bytes(AppendSummary(nil, p.Summary))
		e.str(p.After)
		e.str(p.Last)
		if p.Done {
			e.byte(1)
		} else {
			e.byte(0)
		}
		e.uvarint(uint64(len(p.Records)))
		for _, r := range p.Records {
			e.str(r.Table)
			e.str(r.Key)
			wire := *r
			wire.History = nil
			e.bytes(AppendRecord(nil, &wire))
		}
		e.bytes(AppendSummary(nil, op.S))
		e.strs(op.Filter.Scopes)
		e.strs(op.Filter.SiteOnly)
	case OpPurge:
		e.bytes(AppendSummary(nil, op.Horizon))
		e.bytes(AppendSummary(nil, op.Ceiling))
	case OpPrune:
		e.uvarint(uint64(op.Older.UnixMilli()))
		e.bytes(AppendSummary(nil, op.Safe))
	case OpIdentity:
		e.uvarint(op.Incarnation)
	case OpStatusAt:
		e.uvarint(uint64(op.HLC))
		e.bytesMap(op.Status)
	case OpStatusIn:
		e.statusEntries(op.StatusEntries)
	}
}

// fields encodes a patch: names in order, each with its value (empty
// values are kept: they clear a field).
func (e *encoder) fields(f pbx.Fields) {
	names := f.Names()
	e.uvarint(uint64(len(names)))
	for _, k := range names {
		e.str(k)
		e.str(f[k])
	}
}

func (e *encoder) strs(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) bytesMap(m map[string][]byte) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.bytes(m[k])
	}
}

// DecodeOps parses ops made by AppendOps. Any input gives ops or an error
// wrapping ErrCorrupt.
func DecodeOps(b []byte) ([]Op, error) {
	d := decoder{b: b}
	if f := d.byte(); d.err == nil && (f < opsFormat1 || f > opsFormatMax) {
		d.fail("unknown ops format %d (this pbxtopo reads 1 to %d): upgrade this node", f, opsFormatMax)
	}
	n := d.count(1<<24, "ops")
	ops := make([]Op, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		ops = append(ops, d.op())
	}
	return ops, d.done()
}

func (d *decoder) op() Op {
	op := Op{Kind: OpKind(d.byte())}
	switch op.Kind {
	case OpWrite:
		op.Author = d.str(maxAuthorLen, "author")
		op.HLC = HLC(d.uvarint())
		n := d.count(1<<24, "mutations")
		op.Muts = make([]Mutation, 0, n)
		op.Scopes = make([]string, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			var m Mutation
			m.Table = d.str(maxTableLen, "table")
			m.Key = d.str(maxKeyLen, "key")
			flags := d.byte()
			m.Value = d.owned(maxValueLen, "value")
			if flags&(1|4) == 0 && m.Value == nil {
				m.Value = []byte{} // refused later as an empty value, as Write does
			}
			m.SupersedeAll = flags&2 != 0
			if flags&4 != 0 {
				m.Patch = d.fields()
			}
			if flags&8 != 0 {
				m.Resolve = d.strs()
			}
			k := d.count(maxContext, "if-match versions")
			for j := 0; j < k && d.err == nil; j++ {
				m.IfMatch = append(m.IfMatch, d.dot())
			}
			m.Must = Must(d.byte())
			op.Muts = append(op.Muts, m)
			op.Scopes = append(op.Scopes, d.str(maxStringLen, "scope"))
		}
		op.Local = d.bytesMap()
	case OpApply:
		n := d.count(1<<24, "changes")
		for i := 0; i < n && d.err == nil; i++ {
			c, err := DecodeChange(d.raw(maxChangeSize, "change"))
			if err != nil && d.err == nil {
				d.err = err
			}
			op.Changes = append(op.Changes, c)
		}
	case OpRevert:
		op.Author = d.str(maxAuthorLen, "author")
		op.HLC = HLC(d.uvarint())
		op.Revert = d.dot()
	case OpStatus:
		op.Status = d.bytesMap()
	case OpMerge:
		p := &SnapshotPage{Summary: d.summaryBytes(), After: d.str(maxStringLen, "cursor"), Last: d.str(maxStringLen, "cursor")}
		p.Done = d.byte() == 1
		n := d.count(1<<24, "records")
		for i := 0; i < n && d.err == nil; i++ {
			table, key := d.str(maxTableLen, "table"), d.str(maxKeyLen, "key")
			r, err := DecodeRecord(table, key, d.raw(maxChangeSize*4, "record"))
			if err != nil && d.err == nil {
				d.err = err
			}
			p.Records = append(p.Records, r)
		}
		op.Page = p
		op.S = d.summaryBytes()
		op.Filter.Scopes = d.strs()
		op.Filter.SiteOnly = d.strs()
	case OpPurge:
		op.Horizon, op.Ceiling = d.summaryBytes(), d.summaryBytes()
	case OpPrune:
		op.Older = time.UnixMilli(int64(d.uvarint()))
		op.Safe = d.summaryBytes()
	case OpIdentity:
		op.Incarnation = d.uvarint()
	case OpStatusAt:
		op.HLC = HLC(d.uvarint())
		op.Status = d.bytesMap()
	case OpStatusIn:
		op.StatusEntries = d.statusEntries()
	default:
		d.fail("unknown op kind %d", op.Kind)
	}
	return op
}

func (d *decoder) fields() pbx.Fields {
	n := d.count(4096, "patch fields")
	f := make(pbx.Fields, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str(maxStringLen, "field name")
		f[k] = d.str(maxValueLen, "field value")
	}
	return f
}

func (d *decoder) strs() []string {
	n := d.count(4096, "names")
	var out []string
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.str(maxStringLen, "name"))
	}
	return out
}

func (d *decoder) bytesMap() map[string][]byte {
	n := d.count(1<<24, "entries")
	if n == 0 {
		return nil
	}
	m := make(map[string][]byte, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str(maxKeyLen, "key")
		m[k] = d.owned(maxValueLen, "value")
	}
	return m
}

func (d *decoder) summaryBytes() Summary {
	b := d.raw(maxValueLen, "summary")
	if d.err != nil {
		return nil
	}
	s, err := DecodeSummary(b)
	if err != nil {
		d.err = fmt.Errorf("%w: summary: %v", ErrCorrupt, err)
	}
	return s
}
