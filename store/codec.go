package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/pbxtopo/pbxtopo/internal/wire"
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

// encoder and decoder are the wire primitives with the store's own
// pieces (change ids, field names, graphs) added.
type encoder struct{ wire.Encoder }

func newEncoder(b []byte) encoder { return encoder{wire.Encoder{B: b}} }

func (e *encoder) dot(d Dot) { e.String(string(d.Stream)); e.Uvarint(d.Seq) }

type decoder struct{ wire.Decoder }

func newDecoder(b []byte) decoder { return decoder{wire.Decoder{B: b, Kind: ErrCorrupt}} }

// owned is Raw copied out of the input: decoded changes and records
// outlive the bbolt transaction whose memory they were read from.
func (d *decoder) owned(max int, what string) []byte {
	v := d.Raw(max, what)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// names reads a set of field names (pbx.AppendNames).
func (d *decoder) names() []string {
	if d.Err != nil {
		return nil
	}
	names, rest, err := pbx.DecodeNames(d.B)
	if err != nil {
		d.Fail("%v", err)
		return nil
	}
	d.B = rest
	return names
}

func (d *decoder) dot() Dot {
	st := Stream(d.String(maxStringLen, "stream"))
	seq := d.Uvarint()
	if d.Err == nil && (!st.Valid() || seq == 0) {
		d.Fail("bad change id %q:%d", st, seq)
	}
	return Dot{st, seq}
}

// AppendChange appends the binary form of c.
func AppendChange(b []byte, c *Change) []byte {
	e := newEncoder(b)
	if c.Set != nil {
		e.Byte(changeFormat2)
	} else {
		e.Byte(changeFormat)
	}
	e.dot(c.Dot)
	e.Uvarint(c.TxSeq)
	e.Uvarint(uint64(c.TxSize))
	e.String(c.Table)
	e.String(c.Key)
	var flags byte
	if c.Deleted {
		flags |= 1
	}
	e.Byte(flags)
	e.Bytes(c.Value)
	e.Uvarint(uint64(len(c.Context)))
	for _, d := range c.Context {
		e.dot(d)
	}
	e.Uvarint(uint64(c.HLC))
	e.String(c.Author)
	if len(c.Horizon) > 0 {
		e.Bytes(AppendSummary(nil, c.Horizon))
	} else {
		e.Bytes(nil)
	}
	if c.Set != nil {
		e.B = pbx.AppendNames(e.B, c.Set)
	}
	return e.B
}

// DecodeChange parses a change made by AppendChange. Any input gives a
// change or an error wrapping ErrCorrupt, never a panic.
func DecodeChange(b []byte) (*Change, error) {
	d := newDecoder(b)
	c, err := d.change()
	if err != nil {
		return nil, err
	}
	return c, d.Done()
}

func (d *decoder) change() (*Change, error) {
	format := d.Byte()
	if d.Err == nil && format != changeFormat && format != changeFormat2 {
		d.Fail("unknown change format %d (this pbxtopo reads 1 and 2): upgrade it", format)
	}
	c := &Change{}
	c.Dot = d.dot()
	c.TxSeq = d.Uvarint()
	txSize := d.Uvarint()
	c.Table = d.String(maxTableLen, "table name")
	c.Key = d.String(maxKeyLen, "key")
	flags := d.Byte()
	c.Value = d.owned(maxValueLen, "value")
	n := d.Count(maxContext, "context versions")
	if n > 0 {
		c.Context = make([]Dot, n)
		for i := range c.Context {
			c.Context[i] = d.dot()
		}
	}
	c.HLC = HLC(d.Uvarint())
	c.Author = d.String(maxAuthorLen, "author")
	if h := d.Raw(maxValueLen, "horizon"); len(h) > 0 && d.Err == nil {
		hd := newDecoder(h)
		c.Horizon, d.Err = hd.summary()
		if d.Err == nil {
			d.Err = hd.Done()
		}
		if d.Err == nil && len(c.Horizon) == 0 {
			d.Fail("empty horizon spelled out")
		}
	}
	if format == changeFormat2 {
		c.Set = d.names()
		if d.Err == nil && len(c.Set) == 0 {
			d.Fail("change %s sets no field", c.Dot)
		}
	}
	if d.Err != nil {
		return nil, d.Err
	}
	switch {
	case flags&^1 != 0:
		d.Fail("unknown flags %#x", flags)
	case txSize == 0 || txSize > 1<<31:
		d.Fail("transaction size %d", txSize)
	case c.TxSeq == 0 || c.TxSeq > c.Dot.Seq || c.Dot.Seq-c.TxSeq >= txSize:
		d.Fail("change %s lies outside its transaction (first %d, size %d)", c.Dot, c.TxSeq, txSize)
	case c.Table == "" || c.Key == "":
		d.Fail("change %s has no table or key", c.Dot)
	}
	c.Deleted = flags&1 != 0
	if c.Deleted && len(c.Value) > 0 {
		d.Fail("deletion %s carries a value", c.Dot)
	}
	if len(c.Value) == 0 {
		c.Value = nil
	}
	c.TxSize = uint32(txSize)
	return c, d.Err
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
	e := newEncoder(b)
	// A record whose one version is what it shows keeps the first format
	// (an older pbxtopo reads it); one with a graph, or whose live
	// versions merge into another value, takes the second, which leads
	// with the merged value so scans read it first.
	format := byte(recordFormat)
	if r.graphLen() > 0 || merged != nil {
		format = recordFormat2
	}
	e.Byte(format)
	if format == recordFormat2 {
		if merged != nil {
			e.Byte(1)
			e.Bytes(merged)
		} else {
			e.Byte(0)
		}
	}
	e.Uvarint(uint64(len(r.Versions)))
	for _, v := range r.Versions {
		e.dot(v.Dot)
		e.Uvarint(uint64(v.HLC))
		e.String(v.Author)
		var flags byte
		if v.Deleted {
			flags |= 1
		}
		e.Byte(flags)
		e.Bytes(v.Value)
	}
	e.Uvarint(uint64(len(r.History)))
	prev := uint64(0)
	for _, l := range r.History {
		e.Uvarint(l - prev)
		prev = l
	}
	if format == recordFormat2 {
		e.graph(r)
	}
	return e.B
}

// graph encodes a record's graph: its node count, whether a node merged
// several versions, and the nodes, length-prefixed so a reader can keep
// them encoded.
func (e *encoder) graph(r *Record) {
	e.Uvarint(uint64(r.graphLen()))
	merges := r.hasMerges()
	if merges {
		e.Byte(1)
	} else {
		e.Byte(0)
	}
	if !r.lazy.loaded && r.lazy.body != nil {
		e.Bytes(r.lazy.body)
		return
	}
	var body encoder
	for _, n := range r.Graph {
		body.node(n)
	}
	e.Bytes(body.B)
}

func (e *encoder) node(n Node) {
	e.dot(n.Dot)
	e.Uvarint(uint64(len(n.Context)))
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
	e.Byte(flags)
	if n.Set != nil {
		e.B = pbx.AppendNames(e.B, n.Set)
	}
	e.Uvarint(uint64(n.HLC))
	e.String(n.Author)
	e.Bytes(n.Value)
}

// graph reads a record's graph and keeps its nodes encoded.
func (d *decoder) graph() lazyGraph {
	g := lazyGraph{count: d.Count(maxGraph, "graph nodes")}
	g.merges = d.Byte() == 1
	g.body = d.owned(maxChangeSize*4, "graph")
	if d.Err == nil && (g.count == 0) != (g.body == nil) {
		d.Fail("graph of %d nodes in %d bytes", g.count, len(g.body))
	}
	return g
}

func (d *decoder) nodes(n int) []Node {
	g := make([]Node, 0, n)
	for i := 0; i < n && d.Err == nil; i++ {
		var nd Node
		nd.Dot = d.dot()
		k := d.Count(maxContext, "context versions")
		for j := 0; j < k && d.Err == nil; j++ {
			nd.Context = append(nd.Context, d.dot())
		}
		flags := d.Byte()
		if flags&^3 != 0 {
			d.Fail("unknown graph flags %#x", flags)
		}
		nd.Deleted = flags&1 != 0
		if flags&2 != 0 {
			nd.Set = d.names()
			if d.Err == nil && len(nd.Set) == 0 {
				d.Fail("graph node %s sets no field", nd.Dot)
			}
		}
		nd.HLC = HLC(d.Uvarint())
		nd.Author = d.String(maxAuthorLen, "author")
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
	d := newDecoder(b)
	format := d.Byte()
	if d.Err == nil && format != recordFormat && format != recordFormat2 {
		d.Fail("unknown record format %d (this pbxtopo reads 1 and 2): upgrade it", format)
	}
	if format == recordFormat2 {
		if d.Byte() == 1 {
			d.Raw(maxValueLen, "merged value") // derived: computed again below
		}
	}
	n := d.Count(maxVersions, "versions")
	if d.Err == nil && n == 0 {
		d.Fail("record without versions")
	}
	r := &Record{Table: table, Key: key, Versions: make([]Version, 0, n)}
	for i := 0; i < n && d.Err == nil; i++ {
		var v Version
		v.Dot = d.dot()
		v.HLC = HLC(d.Uvarint())
		v.Author = d.String(maxAuthorLen, "author")
		flags := d.Byte()
		v.Value = d.owned(maxValueLen, "value")
		if flags&^1 != 0 {
			d.Fail("unknown flags %#x", flags)
		}
		v.Deleted = flags&1 != 0
		if len(v.Value) == 0 {
			v.Value = nil
		}
		r.Versions = append(r.Versions, v)
	}
	if h := d.Count(maxHistory, "history entries"); h > 0 {
		r.History = make([]uint64, h)
		prev := uint64(0)
		for i := range r.History {
			delta := d.Uvarint()
			if d.Err == nil && (delta == 0 && i > 0 || prev+delta < prev) {
				d.Fail("history out of order")
			}
			prev += delta
			r.History[i] = prev
		}
	}
	if format == recordFormat2 {
		r.lazy = d.graph()
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return r, nil
}

// recordWinnerValue returns the value a record shows straight from its
// encoding (nil when it is deleted), for fast scans. It allocates nothing.
func recordWinnerValue(b []byte) ([]byte, bool) {
	d := newDecoder(b)
	format := d.Byte()
	if format == recordFormat2 {
		if d.Byte() == 1 {
			v := d.Raw(maxValueLen, "merged value")
			return v, d.Err == nil
		}
	} else if format != recordFormat {
		return nil, false
	}
	if d.Count(maxVersions, "versions") == 0 {
		return nil, false
	}
	d.Raw(maxStringLen, "stream")
	d.Uvarint()
	d.Uvarint()
	d.Raw(maxAuthorLen, "author")
	flags := d.Byte()
	v := d.Raw(maxValueLen, "value")
	if d.Err != nil || flags&1 != 0 {
		return nil, false
	}
	return v, true
}

// AppendSummary appends the binary form of s, streams in order.
func AppendSummary(b []byte, s Summary) []byte {
	e := newEncoder(b)
	e.Byte(summaryFormat)
	e.Uvarint(uint64(len(s)))
	for _, st := range s.Streams() {
		e.String(string(st))
		e.Uvarint(s[st])
	}
	return e.B
}

// DecodeSummary parses a summary made by AppendSummary.
func DecodeSummary(b []byte) (Summary, error) {
	d := newDecoder(b)
	s, err := d.summary()
	if err != nil {
		return nil, err
	}
	return s, d.Done()
}

func (d *decoder) summary() (Summary, error) {
	if f := d.Byte(); d.Err == nil && f != summaryFormat {
		d.Fail("unknown summary format %d", f)
	}
	n := d.Count(maxStreams, "streams")
	s := make(Summary, n)
	for i := 0; i < n && d.Err == nil; i++ {
		st := Stream(d.String(maxStringLen, "stream"))
		seq := d.Uvarint()
		if d.Err == nil && !st.Valid() {
			d.Fail("bad stream %q", st)
		}
		if _, dup := s[st]; dup {
			d.Fail("stream %q twice", st)
		}
		s[st] = seq
	}
	return s, d.Err
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
