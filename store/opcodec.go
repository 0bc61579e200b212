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
	if b == nil {
		b = make([]byte, 0, opsSizeHint(ops))
	}
	e := newEncoder(b)
	format := byte(opsFormat1)
	for i := range ops {
		for _, m := range ops[i].Muts {
			if m.Patch != nil || m.Resolve != nil {
				format = opsFormat2
			}
		}
	}
	e.Byte(format)
	e.Uvarint(uint64(len(ops)))
	for i := range ops {
		e.op(&ops[i])
	}
	return e.B
}

// opsSizeHint estimates the encoded size of ops: a Raft entry of a 4 MB
// batch is then allocated once, not grown and copied a dozen times (which
// was a tenth of a catching-up agent's CPU).
func opsSizeHint(ops []Op) int {
	n := 16
	for i := range ops {
		for _, c := range ops[i].Changes {
			n += 64 + len(c.Dot.Stream) + len(c.Table) + len(c.Key) + len(c.Value) + len(c.Author) + 32*len(c.Context)
		}
		for _, m := range ops[i].Muts {
			n += 32 + len(m.Table) + len(m.Key) + len(m.Value)
		}
	}
	return n
}

func (e *encoder) op(op *Op) {
	e.Byte(byte(op.Kind))
	switch op.Kind {
	case OpWrite:
		e.String(op.Author)
		e.Uvarint(uint64(op.HLC))
		e.Uvarint(uint64(len(op.Muts)))
		for i, m := range op.Muts {
			e.String(m.Table)
			e.String(m.Key)
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
			e.Byte(flags)
			e.Bytes(m.Value)
			if m.Patch != nil {
				e.fields(m.Patch)
			}
			if m.Resolve != nil {
				e.Strings(m.Resolve)
			}
			e.Uvarint(uint64(len(m.IfMatch)))
			for _, d := range m.IfMatch {
				e.dot(d)
			}
			e.Byte(byte(m.Must))
			scope := ""
			if op.Scopes != nil {
				scope = op.Scopes[i]
			}
			e.String(scope)
		}
		e.bytesMap(op.Local)
	case OpApply:
		e.Uvarint(uint64(len(op.Changes)))
		var scratch []byte // one buffer for every change, not one each
		for _, c := range op.Changes {
			scratch = AppendChange(scratch[:0], c)
			e.Bytes(scratch)
		}
	case OpRevert:
		e.String(op.Author)
		e.Uvarint(uint64(op.HLC))
		e.dot(op.Revert)
	case OpStatus:
		e.bytesMap(op.Status)
	case OpMerge:
		p := op.Page
		e.Bytes(AppendSummary(nil, p.Summary))
		e.String(p.After)
		e.String(p.Last)
		if p.Done {
			e.Byte(1)
		} else {
			e.Byte(0)
		}
		e.Uvarint(uint64(len(p.Records)))
		for _, r := range p.Records {
			e.String(r.Table)
			e.String(r.Key)
			wire := *r
			wire.History = nil
			e.Bytes(AppendRecord(nil, &wire))
		}
		e.Bytes(AppendSummary(nil, op.S))
		e.Strings(op.Filter.Scopes)
		e.Strings(op.Filter.SiteOnly)
	case OpPurge:
		e.Bytes(AppendSummary(nil, op.Horizon))
		e.Bytes(AppendSummary(nil, op.Ceiling))
	case OpPrune:
		e.Uvarint(uint64(op.Older.UnixMilli()))
		e.Bytes(AppendSummary(nil, op.Safe))
	case OpIdentity:
		e.Uvarint(op.Incarnation)
	case OpStatusAt:
		e.Uvarint(uint64(op.HLC))
		e.bytesMap(op.Status)
	case OpStatusIn:
		e.statusEntries(op.StatusEntries)
	}
}

// fields encodes a patch: names in order, each with its value (empty
// values are kept: they clear a field).
func (e *encoder) fields(f pbx.Fields) {
	names := f.Names()
	e.Uvarint(uint64(len(names)))
	for _, k := range names {
		e.String(k)
		e.String(f[k])
	}
}

func (e *encoder) bytesMap(m map[string][]byte) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.String(k)
		e.Bytes(m[k])
	}
}

// DecodeOps parses ops made by AppendOps. Any input gives ops or an error
// wrapping ErrCorrupt.
func DecodeOps(b []byte) ([]Op, error) {
	d := newDecoder(b)
	if f := d.Byte(); d.Err == nil && (f < opsFormat1 || f > opsFormatMax) {
		d.Fail("unknown ops format %d (this pbxtopo reads 1 to %d): upgrade this node", f, opsFormatMax)
	}
	n := d.Count(1<<24, "ops")
	ops := make([]Op, 0, n)
	for i := 0; i < n && d.Err == nil; i++ {
		ops = append(ops, d.op())
	}
	return ops, d.Done()
}

func (d *decoder) op() Op {
	op := Op{Kind: OpKind(d.Byte())}
	switch op.Kind {
	case OpWrite:
		op.Author = d.String(maxAuthorLen, "author")
		op.HLC = HLC(d.Uvarint())
		n := d.Count(1<<24, "mutations")
		op.Muts = make([]Mutation, 0, n)
		op.Scopes = make([]string, 0, n)
		for i := 0; i < n && d.Err == nil; i++ {
			var m Mutation
			m.Table = d.String(maxTableLen, "table")
			m.Key = d.String(maxKeyLen, "key")
			flags := d.Byte()
			m.Value = d.owned(maxValueLen, "value")
			if flags&(1|4) == 0 && m.Value == nil {
				m.Value = []byte{} // refused later as an empty value, as Write does
			}
			m.SupersedeAll = flags&2 != 0
			if flags&4 != 0 {
				m.Patch = d.fields()
			}
			if flags&8 != 0 {
				m.Resolve = d.Strings(4096, maxStringLen, "names")
			}
			k := d.Count(maxContext, "if-match versions")
			for j := 0; j < k && d.Err == nil; j++ {
				m.IfMatch = append(m.IfMatch, d.dot())
			}
			m.Must = Must(d.Byte())
			op.Muts = append(op.Muts, m)
			op.Scopes = append(op.Scopes, d.String(maxStringLen, "scope"))
		}
		op.Local = d.bytesMap()
	case OpApply:
		n := d.Count(1<<24, "changes")
		for i := 0; i < n && d.Err == nil; i++ {
			c, err := DecodeChange(d.Raw(maxChangeSize, "change"))
			if err != nil && d.Err == nil {
				d.Err = err
			}
			op.Changes = append(op.Changes, c)
		}
	case OpRevert:
		op.Author = d.String(maxAuthorLen, "author")
		op.HLC = HLC(d.Uvarint())
		op.Revert = d.dot()
	case OpStatus:
		op.Status = d.bytesMap()
	case OpMerge:
		p := &SnapshotPage{Summary: d.summaryBytes(), After: d.String(maxStringLen, "cursor"), Last: d.String(maxStringLen, "cursor")}
		p.Done = d.Byte() == 1
		n := d.Count(1<<24, "records")
		for i := 0; i < n && d.Err == nil; i++ {
			table, key := d.String(maxTableLen, "table"), d.String(maxKeyLen, "key")
			r, err := DecodeRecord(table, key, d.Raw(maxChangeSize*4, "record"))
			if err != nil && d.Err == nil {
				d.Err = err
			}
			p.Records = append(p.Records, r)
		}
		op.Page = p
		op.S = d.summaryBytes()
		op.Filter.Scopes = d.Strings(4096, maxStringLen, "names")
		op.Filter.SiteOnly = d.Strings(4096, maxStringLen, "names")
	case OpPurge:
		op.Horizon, op.Ceiling = d.summaryBytes(), d.summaryBytes()
	case OpPrune:
		op.Older = time.UnixMilli(int64(d.Uvarint()))
		op.Safe = d.summaryBytes()
	case OpIdentity:
		op.Incarnation = d.Uvarint()
	case OpStatusAt:
		op.HLC = HLC(d.Uvarint())
		op.Status = d.bytesMap()
	case OpStatusIn:
		op.StatusEntries = d.statusEntries()
	default:
		d.Fail("unknown op kind %d", op.Kind)
	}
	return op
}

func (d *decoder) fields() pbx.Fields {
	n := d.Count(4096, "patch fields")
	f := make(pbx.Fields, n)
	for i := 0; i < n && d.Err == nil; i++ {
		k := d.String(maxStringLen, "field name")
		f[k] = d.String(maxValueLen, "field value")
	}
	return f
}

func (d *decoder) bytesMap() map[string][]byte {
	n := d.Count(1<<24, "entries")
	if n == 0 {
		return nil
	}
	m := make(map[string][]byte, n)
	for i := 0; i < n && d.Err == nil; i++ {
		k := d.String(maxKeyLen, "key")
		m[k] = d.owned(maxValueLen, "value")
	}
	return m
}

func (d *decoder) summaryBytes() Summary {
	b := d.Raw(maxValueLen, "summary")
	if d.Err != nil {
		return nil
	}
	s, err := DecodeSummary(b)
	if err != nil {
		d.Err = fmt.Errorf("%w: summary: %v", ErrCorrupt, err)
	}
	return s
}
