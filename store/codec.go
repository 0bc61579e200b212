package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// Change is one new version of one record, or its deletion, made at one
// replica. It is the unit of the change log and of replication.
type Change struct {
	Dot     Dot    // stream and sequence number
	TxSeq   uint64 // Seq of the first change of its transaction (same stream)
	TxSize  uint32 // changes in the transaction; peers apply them whole
	Table   string
	Key     string
	Deleted bool   // a tombstone
	Value   []byte // the record's fields (pbx.Fields binary form); nil when Deleted
	Context []Dot  // the versions this change supersedes
	HLC     HLC
	Author  string // who made the change ("admin:alice", "mysql", "revert of ...")
	// Horizon is set on a write that found its record absent: the
	// changes every replica had seen when its replica last purged
	// tombstones. A tombstone it covers was purged at the writer, so the
	// write supersedes it everywhere, also where it is not purged yet.
	Horizon Summary
	// Set names the fields the change set (the others it kept as its
	// writer saw them); nil: every field. Value is still the whole record.
	Set []string
}

// Version is one live version of a record: the winner or a sibling.
type Version struct {
	Dot     Dot
	HLC     HLC
	Author  string
	Deleted bool
	Value   []byte
}

// Record is a record's state: its live versions, the winner first. More
// than one version means a conflict.
type Record struct {
	Table    string
	Key      string
	Versions []Version
	// History holds the log positions of the changes of this record
	// applied here, oldest first: the per-record history index, kept in
	// the record so a write dirties no extra page. Local to this replica.
	History []uint64
	// Graph holds the record's changes not every replica has seen yet
	// (view.go); empty for a quiet record. A record read from storage
	// holds it encoded until it is needed (graph.go): read it with nodes.
	Graph []Node

	lazy   lazyGraph
	cached *view
}

// Winner returns the winning live version: the newest, by (hlc, origin,
// seq). Its value is what the record shows only when it is the one live
// version; Value merges them all.
func (r *Record) Winner() Version { return r.Versions[0] }

// Conflict reports whether the record shows a conflict: a field (or group
// of fields) set to different values by concurrent changes, or a deletion
// concurrent with a change. Concurrent versions that changed different
// fields merge without one.
func (r *Record) Conflict() bool {
	if r.single() {
		return false
	}
	return len(r.view().conflicts) > 0
}

// single reports whether the record is one version with nothing merged
// into it: it shows that version, with no conflict, and saying so needs
// no decoding (a catch-up of a million records asks a million times).
func (r *Record) single() bool { return r.cached == nil && len(r.Versions) == 1 && !r.hasMerges() }

// Exists reports whether the record is present and not deleted.
func (r *Record) Exists() bool {
	if r.single() {
		return !r.Versions[0].Deleted
	}
	return len(r.Versions) > 0 && r.view().value != nil
}

// Dots returns the dots of the live versions.
func (r *Record) Dots() []Dot {
	out := make([]Dot, len(r.Versions))
	for i, v := range r.Versions {
		out[i] = v.Dot
	}
	return out
}

// wins reports whether a is ordered before b: the greater (hlc, stream,
// seq) wins, so the winner is a function of the set of versions and every
// arrival order gives the same one.
func wins(a, b Version) bool {
	if a.HLC != b.HLC {
		return a.HLC > b.HLC
	}
	if a.Dot.Stream != b.Dot.Stream {
		return a.Dot.Stream > b.Dot.Stream
	}
	return a.Dot.Seq > b.Dot.Seq
}

func sortVersions(vs []Version) {
	sort.SliceStable(vs, func(i, j int) bool { return wins(vs[i], vs[j]) })
}

// Formats of the binary encodings; a new layout gets a new number and the
// decoders keep reading the old ones.
const (
	changeFormat  = 1
	changeFormat2 = 2 // adds Set
	recordFormat  = 1
	recordFormat2 = 2 // adds the change graph and the merged value
	summaryFormat = 1
	maxGraph      = 4096
)

// Limits that reject absurd input before allocating for it.
const (
	maxKeyLen     = 1024
	maxValueLen   = 1 << 20
	maxContext    = 4096
	maxVersions   = 4096
	maxHistory    = 1 << 20
	maxStreams    = 1 << 16
	maxStringLen  = 4096
	maxAuthorLen  = 256
	maxTableLen   = 64
	maxChangeSize = maxValueLen + 64*1024
)

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("malformed encoding")

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) str(v string)     { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) dot(d Dot)        { e.str(string(d.Stream)); e.uvarint(d.Seq) }

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated number")
		return 0
	}
	// Only the shortest form is accepted, so one value has one encoding.
	if n != uvarintLen(v) {
		d.fail("number not in its shortest form")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) raw(max int, what string) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) {
		d.fail("%s is %d bytes, the limit is %d", what, n, max)
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated %s", what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// owned is raw copied out of the input: decoded changes and records
// outlive the bbolt transaction whose memory they were read from.
func (d *decoder) owned(max int, what string) []byte {
	v := d.raw(max, what)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *decoder) str(max int, what string) string { return string(d.raw(max, what)) }

// names reads a set of field names (pbx.AppendNames).
func (d *decoder) names() []string {
	if d.err != nil {
		return nil
	}
	names, rest, err := pbx.DecodeNames(d.b)
	if err != nil {
		d.fail("%v", err)
		return nil
	}
	d.b = rest
	return names
}

func (d *decoder) dot() Dot {
	st := Stream(d.str(maxStringLen, "stream"))
	seq := d.uvarint()
	if d.err == nil && (!st.Valid() || seq == 0) {
		d.fail("bad change id %q:%d", st, seq)
	}
	return Dot{st, seq}
}

func (d *decoder) count(max int, what string) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(max) {
		d.fail("%d %s, the limit is %d", n, what, max)
		return 0
	}
	// Every element takes at least one byte: a count beyond the input is a lie.
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("%d %s in %d bytes", n, what, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// AppendChange appends the binary form of c.
func AppendChange(b []byte, c *Change) []byte {
	e := encoder{b}
	if c.Set != nil {
		e.byte(changeFormat2)
	} else {
		e.byte(changeFormat)
	}
	e.dot(c.Dot)
	e.uvarint(c.TxSeq)
	e.uvarint(uint64(c.TxSize))
	e.str(c.Table)
	e.str(c.Key)
	var flags byte
	if c.Deleted {
		flags |= 1
	}
	e.byte(flags)
	e.bytes(c.Value)
	e.uvarint(uint64(len(c.Context)))
	for _, d := range c.Context {
		e.dot(d)
	}
	e.uvarint(uint64(c.HLC))
	e.str(c.Author)
	if len(c.Horizon) > 0 {
		e.bytes(AppendSummary(nil, c.Horizon))
	} else {
		e.bytes(nil)
	}
	if c.Set != nil {
		e.b = pbx.AppendNames(e.b, c.Set)
	}
	return e.b
}

// DecodeChange parses a change made by AppendChange. Any input gives a
// change or an error wrapping ErrCorrupt, never a panic.
func DecodeChange(b []byte) (*Change, error) {
	d := decoder{b: b}
	c, err := d.change()
	if err != nil {
		return nil, err
	}
	return c, d.done()
}

func (d *decoder) change() (*Change, error) {
	format := d.byte()
	if d.err == nil && format != changeFormat && format != changeFormat2 {
		d.fail("unknown change format %d (this pbxtopo reads 1 and 2): upgrade it", format)
	}
	c := &Change{}
	c.Dot = d.dot()
	c.TxSeq = d.uvarint()
	txSize := d.uvarint()
	c.Table = d.str(maxTableLen, "table name")
	c.Key = d.str(maxKeyLen, "key")
	flags := d.byte()
	c.Value = d.owned(maxValueLen, "value")
	n := d.count(maxContext, "context versions")
	if n > 0 {
		c.Context = make([]Dot, n)
		for i := range c.Context {
			c.Context[i] = d.dot()
		}
	}
	c.HLC = HLC(d.uvarint())
	c.Author = d.str(maxAuthorLen, "author")
	if h := d.raw(maxValueLen, "horizon"); len(h) > 0 && d.err == nil {
		hd := decoder{b: h}
		c.Horizon, d.err = hd.summary()
		if d.err == nil {
			d.err = hd.done()
		}
		if d.err == nil && len(c.Horizon) == 0 {
			d.fail("empty horizon spelled out")
		}
	}
	if format == changeFormat2 {
		c.Set = d.names()
		if d.err == nil && len(c.Set) == 0 {
			d.fail("change %s sets no field", c.Dot)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	switch {
	case flags&^1 != 0:
		d.fail("unknown flags %#x", flags)
	case txSize == 0 || txSize > 1<<31:
		d.fail("transaction size %d", txSize)
	case c.TxSeq == 0 || c.TxSeq > c.Dot.Seq || c.Dot.Seq-c.TxSeq >= txSize:
		d.fail("change %s lies outside its transaction (first %d, size %d)", c.Dot, c.TxSeq, txSize)
	case c.Table == "" || c.Key == "":
		d.fail("change %s has no table or key", c.Dot)
	}
	c.Deleted = flags&1 != 0
	if c.Deleted && len(c.Value) > 0 {
		d.fail("deletion %s carries a value", c.Dot)
	}
	if len(c.Value) == 0 {
		c.Value = nil
	}
	c.TxSize = uint32(txSize)
	return c, d.err
}

// AppendRecord appends the binary form of r. Its History is local to a
// replica: on the wire, send records with History nil.
func AppendRecord(b []byte, r *Record) []byte { return appendRecord(b, r, r.mergedValue()) }

// AppendRecordV1 appends r in the first record format, without its graph:
// for a peer of the previous protocol, which merges records whole.
func AppendRecordV1(b []byte, r *Record) []byte {
	c := *r
	c.dropGraph()
	return appendRecord(b, &c, nil)
}

// mergedValue is the value the record shows when it differs from its
// winning version's (live versions merged field by field), else nil.
func (r *Record) mergedValue() []byte {
	if len(r.Versions) > 1 && !r.Versions[0].Deleted {
		return r.Value()
	}
	return nil
}

// appendRecord appends r with merged as its merged value (sealed or not:
// the caller's choice, as for the versions' values).
func appendRecord(b []byte, r *Record, merged []byte) []byte {
	if b == nil {
		// Exact-size buffers: a 100,000-record import holds all of them
		// until it commits, and append's doubling would waste a third.
		n := 8 + 3*len(r.History)
		for _, v := range r.Versions {
			n += len(v.Dot.Stream) + len(v.Author) + len(v.Value) + 40
		}
		b = make([]byte, 0, n)
	}
	e := encoder{b}
	// A record whose one version is what it shows keeps the first format
	// (an older pbxtopo reads it); one with a graph, or whose live
	// versions merge into another value, takes the second, which leads
	// with the merged value so scans read it first.
	format := byte(recordFormat)
	if r.graphLen() > 0 || merged != nil {
		format = recordFormat2
	}
	e.byte(format)
	if format == recordFormat2 {
		if merged != nil {
			e.byte(1)
			e.bytes(merged)
		} else {
			e.byte(0)
		}
	}
	e.uvarint(uint64(len(r.Versions)))
	for _, v := range r.Versions {
		e.dot(v.Dot)
		e.uvarint(uint64(v.HLC))
		e.str(v.Author)
		var flags byte
		if v.Deleted {
			flags |= 1
		}
		e.byte(flags)
		e.bytes(v.Value)
	}
	e.uvarint(uint64(len(r.History)))
	prev := uint64(0)
	for _, l := range r.History {
		e.uvarint(l - prev)
		prev = l
	}
	if format == recordFormat2 {
		e.graph(r)
	}
	return e.b
}

// graph encodes a record's graph: its node count, whether a node merged
// several versions, and the nodes, length-prefixed so a reader can keep
// them encoded.
func (e *encoder) graph(r *Record) {
	e.uvarint(uint64(r.graphLen()))
	merges := r.hasMerges()
	if merges {
		e.byte(1)
	} else {
		e.byte(0)
	}
	if !r.lazy.loaded && r.lazy.body != nil {
		e.bytes(r.lazy.body)
		return
	}
	var body encoder
	for _, n := range r.Graph {
		body.node(n)
	}
	e.bytes(body.b)
}

func (e *encoder) node(n Node) {
	e.dot(n.Dot)
	e.uvarint(uint64(len(n.Context)))
	for _, d := range n.Context {
		e.dot(d)
	}
	var flags byte
	if n.Deleted {
		flags |= 1
	}
	if n.Set != nil {
		flags |= 2
	}
	e.byte(flags)
	if n.Set != nil {
		e.b = pbx.AppendNames(e.b, n.Set)
	}
	e.uvarint(uint64(n.HLC))
	e.str(n.Author)
	e.bytes(n.Value)
}

// graph reads a record's graph and keeps its nodes encoded.
func (d *decoder) graph() lazyGraph {
	g := lazyGraph{count: d.count(maxGraph, "graph nodes")}
	g.merges = d.byte() == 1
	g.body = d.owned(maxChangeSize*4, "graph")
	if d.err == nil && (g.count == 0) != (g.body == nil) {
		d.fail("graph of %d nodes in %d bytes", g.count, len(g.body))
	}
	return g
}

func (d *decoder) nodes(n int) []Node {
	g := make([]Node, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		var nd Node
		nd.Dot = d.dot()
		k := d.count(maxContext, "context versions")
		for j := 0; j < k && d.err == nil; j++ {
			nd.Context = append(nd.Context, d.dot())
		}
		flags := d.byte()
		if flags&^3 != 0 {
			d.fail("unknown graph flags %#x", flags)
		}
		nd.Deleted = flags&1 != 0
		if flags&2 != 0 {
			nd.Set = d.names()
			if d.err == nil && len(nd.Set) == 0 {
				d.fail("graph node %s sets no field", nd.Dot)
			}
		}
		nd.HLC = HLC(d.uvarint())
		nd.Author = d.str(maxAuthorLen, "author")
		nd.Value = d.owned(maxValueLen, "value")
		g = append(g, nd)
	}
	return g
}

// DecodeRecord parses a record (a snapshot page's, or a stored one), its
// graph included: any input gives a record or an error.
func DecodeRecord(table, key string, b []byte) (*Record, error) {
	r, err := parseRecord(table, key, b)
	if err != nil {
		return nil, err
	}
	if _, err := r.nodes(); err != nil {
		return nil, err
	}
	return r, nil
}

// parseRecord parses a record and keeps its graph encoded until needed.
func parseRecord(table, key string, b []byte) (*Record, error) {
	d := decoder{b: b}
	format := d.byte()
	if d.err == nil && format != recordFormat && format != recordFormat2 {
		d.fail("unknown record format %d (this pbxtopo reads 1 and 2): upgrade it", format)
	}
	if format == recordFormat2 {
		if d.byte() == 1 {
			d.raw(maxValueLen, "merged value") // derived: computed again below
		}
	}
	n := d.count(maxVersions, "versions")
	if d.err == nil && n == 0 {
		d.fail("record without versions")
	}
	r := &Record{Table: table, Key: key, Versions: make([]Version, 0, n)}
	for i := 0; i < n && d.err == nil; i++ {
		var v Version
		v.Dot = d.dot()
		v.HLC = HLC(d.uvarint())
		v.Author = d.str(maxAuthorLen, "author")
		flags := d.byte()
		v.Value = d.owned(maxValueLen, "value")
		if flags&^1 != 0 {
			d.fail("unknown flags %#x", flags)
		}
		v.Deleted = flags&1 != 0
		if len(v.Value) == 0 {
			v.Value = nil
		}
		r.Versions = append(r.Versions, v)
	}
	if h := d.count(maxHistory, "history entries"); h > 0 {
		r.History = make([]uint64, h)
		prev := uint64(0)
		for i := range r.History {
			delta := d.uvarint()
			if d.err == nil && (delta == 0 && i > 0 || prev+delta < prev) {
				d.fail("history out of order")
			}
			prev += delta
			r.History[i] = prev
		}
	}
	if format == recordFormat2 {
		r.lazy = d.graph()
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return r, nil
}

// recordWinnerValue returns the value a record shows straight from its
// encoding (nil when it is deleted), for fast scans. It allocates nothing.
func recordWinnerValue(b []byte) ([]byte, bool) {
	d := decoder{b: b}
	format := d.byte()
	if format == recordFormat2 {
		if d.byte() == 1 {
			v := d.raw(maxValueLen, "merged value")
			return v, d.err == nil
		}
	} else if format != recordFormat {
		return nil, false
	}
	if d.count(maxVersions, "versions") == 0 {
		return nil, false
	}
	d.raw(maxStringLen, "stream")
	d.uvarint()
	d.uvarint()
	d.raw(maxAuthorLen, "author")
	flags := d.byte()
	v := d.raw(maxValueLen, "value")
	if d.err != nil || flags&1 != 0 {
		return nil, false
	}
	return v, true
}

// AppendSummary appends the binary form of s, streams in order.
func AppendSummary(b []byte, s Summary) []byte {
	e := encoder{b}
	e.byte(summaryFormat)
	e.uvarint(uint64(len(s)))
	for _, st := range s.Streams() {
		e.str(string(st))
		e.uvarint(s[st])
	}
	return e.b
}

// DecodeSummary parses a summary made by AppendSummary.
func DecodeSummary(b []byte) (Summary, error) {
	d := decoder{b: b}
	s, err := d.summary()
	if err != nil {
		return nil, err
	}
	return s, d.done()
}

func (d *decoder) summary() (Summary, error) {
	if f := d.byte(); d.err == nil && f != summaryFormat {
		d.fail("unknown summary format %d", f)
	}
	n := d.count(maxStreams, "streams")
	s := make(Summary, n)
	for i := 0; i < n && d.err == nil; i++ {
		st := Stream(d.str(maxStringLen, "stream"))
		seq := d.uvarint()
		if d.err == nil && !st.Valid() {
			d.fail("bad stream %q", st)
		}
		if _, dup := s[st]; dup {
			d.fail("stream %q twice", st)
		}
		s[st] = seq
	}
	return s, d.err
}

// log entries: the local apply time (unix ms) and the change.
func appendLogEntry(b []byte, appliedMs int64, c *Change) []byte {
	if b == nil {
		n := 64 + len(c.Dot.Stream) + len(c.Table) + len(c.Key) + len(c.Value) + len(c.Author) + 40*len(c.Horizon)
		for _, d := range c.Context {
			n += len(d.Stream) + 12
		}
		b = make([]byte, 0, n)
	}
	b = binary.AppendUvarint(b, uint64(appliedMs))
	return AppendChange(b, c)
}

func decodeLogEntry(b []byte) (int64, *Change, error) {
	ms, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: log entry truncated", ErrCorrupt)
	}
	c, err := DecodeChange(b[n:])
	return int64(ms), c, err
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
