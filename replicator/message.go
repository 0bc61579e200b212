package replicator

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// The replication protocol versions this code speaks, negotiated per
// request (version.go): a puller states the newest it speaks, the server
// answers in the newest both speak. Version 2 adds the server's clock to
// pull responses (the peer clock offset in repl status); version 3 the
// fields each change set and each record's change graph (field-level
// merge; an older peer gets whole values and merges records whole).
const (
	MinProtocolVersion = 1
	ProtocolVersion    = 3
)

// PullRequest asks a peer for the changes the requester lacks.
type PullRequest struct {
	From    string        // the requesting cluster
	Scopes  []string      // "" (enterprise) and/or site names; empty means every scope
	Origins []string      // only streams of these clusters; empty means every origin
	Summary store.Summary // what the requester has
	// MaxBytes bounds the batch (a single larger transaction comes whole).
	MaxBytes uint32
	// Wait is how long the peer may hold the request when it has nothing
	// new (long polling), so a change travels as soon as it is made.
	Wait time.Duration
	// MaxVersion is the newest protocol the requester speaks; it travels
	// beside the message (the VersionHeader), so an older server, which
	// does not know it, answers in its own version. Zero means 1.
	MaxVersion uint16
}

// PullResponse carries the changes, or says a snapshot is needed.
type PullResponse struct {
	From         string        // the answering cluster
	Summary      store.Summary // the answering replica's summary
	More         bool          // the batch was cut short by MaxBytes
	NeedSnapshot bool          // what the requester lacks is no longer in the log
	Changes      []*store.Change
	// Version is the protocol version of the response on the wire, and
	// ServerTime (version 2 and later) the server's clock when it answered.
	Version    uint16
	ServerTime time.Time
}

// SnapshotRequest asks for one page of a full-state transfer.
type SnapshotRequest struct {
	From     string
	Scopes   []string
	After    string // the cursor of the previous page's last record
	MaxBytes uint32
	// MaxVersion is the newest protocol the requester speaks (travels
	// beside the message, as for pulls).
	MaxVersion uint16
}

// DigestResponse is a replica's summary and table digests, for verify.
type DigestResponse struct {
	Cluster string
	Summary store.Summary
	Digests map[string]store.Digest
}

// Message types on the wire.
const (
	msgPullRequest byte = iota + 1
	msgPullResponse
	msgSnapshotRequest
	msgSnapshotResponse
	msgDigestResponse
)

var msgNames = map[byte]string{msgPullRequest: "pull request", msgPullResponse: "pull response",
	msgSnapshotRequest: "snapshot request", msgSnapshotResponse: "snapshot page", msgDigestResponse: "digests"}

// Framing: "PBXR", version (2), type (1), body length (4), body, CRC-32C of
// the body (4). The checksum catches truncation and corruption that TLS
// would not (a bug in a peer, a proxy in between).
const (
	magic      = "PBXR"
	headerSize = 4 + 2 + 1 + 4
)

// MaxMessage is the largest message accepted by default: a batch is about
// 1 MiB, but one transaction (an import of 100,000 extensions) comes whole.
const MaxMessage = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frame frames a message of version 1, the one every version reads, for
// every message but pull responses (frameVersion).
func frame(typ byte, body []byte) []byte { return frameVersion(MinProtocolVersion, typ, body) }

func frameVersion(v uint16, typ byte, body []byte) []byte {
	out := make([]byte, 0, headerSize+len(body)+4)
	out = append(out, magic...)
	out = binary.BigEndian.AppendUint16(out, v)
	out = append(out, typ)
	out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
}

// readFrame reads one message of the wanted type from r.
func readFrame(r io.Reader, want byte, max int) ([]byte, error) {
	body, _, err := readFrameVersion(r, want, max)
	return body, err
}

// readFrameVersion is readFrame that also returns the message's version.
func readFrameVersion(r io.Reader, want byte, max int) ([]byte, uint16, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, 0, fmt.Errorf("%w: header: %v", ErrMessage, err)
	}
	if string(h[:4]) != magic {
		return nil, 0, fmt.Errorf("%w: not a pbxtopo replication message", ErrMessage)
	}
	v := binary.BigEndian.Uint16(h[4:6])
	if v < MinProtocolVersion || v > ProtocolVersion {
		return nil, 0, fmt.Errorf("%w %d (this agent speaks %d to %d): upgrade the older agent", ErrVersion, v, MinProtocolVersion, ProtocolVersion)
	}
	if h[6] != want {
		return nil, 0, fmt.Errorf("%w: got a %s, want a %s", ErrMessage, msgNames[h[6]], msgNames[want])
	}
	n := binary.BigEndian.Uint32(h[7:])
	if int64(n) > int64(max) {
		return nil, 0, fmt.Errorf("%w: %s of %d bytes, the limit is %d", ErrTooLarge, msgNames[want], n, max)
	}
	body := make([]byte, int(n)+4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, 0, fmt.Errorf("%w: %s truncated at %d of %d bytes", ErrMessage, msgNames[want], len(body), n)
	}
	sum := binary.BigEndian.Uint32(body[n:])
	body = body[:n]
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, 0, fmt.Errorf("%w: %s fails its checksum", ErrMessage, msgNames[want])
	}
	return body, v, nil
}

type enc struct{ b []byte }

func (e *enc) uv(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) str(s string) { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) raw(b []byte) { e.uv(uint64(len(b))); e.b = append(e.b, b...) }
func (e *enc) flag(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *enc) strs(ss []string) {
	e.uv(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *enc) summary(s store.Summary) { e.raw(store.AppendSummary(nil, s)) }

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(f string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMessage, fmt.Sprintf(f, args...))
	}
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) raw(max int) []byte {
	n := d.uv()
	if d.err == nil && (n > uint64(max) || n > uint64(len(d.b))) {
		d.fail("field of %d bytes (limit %d, %d left)", n, max, len(d.b))
	}
	if d.err != nil {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str(max int) string { return string(d.raw(max)) }

func (d *dec) flag() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("bad flag")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *dec) count(max int) int {
	n := d.uv()
	if d.err == nil && (n > uint64(max) || n > uint64(len(d.b))) {
		d.fail("count %d out of range", n)
		return 0
	}
	return int(n)
}

func (d *dec) strs() []string {
	n := d.count(4096)
	var out []string
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.str(256))
	}
	return out
}

func (d *dec) summary() store.Summary {
	b := d.raw(16 << 20)
	if d.err != nil {
		return nil
	}
	s, err := store.DecodeSummary(b)
	if err != nil {
		d.fail("summary: %v", err)
	}
	return s
}

func (d *dec) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// EncodePullRequest returns the wire form of q.
func EncodePullRequest(q *PullRequest) []byte {
	var e enc
	e.str(q.From)
	e.strs(q.Scopes)
	e.strs(q.Origins)
	e.summary(q.Summary)
	e.uv(uint64(q.MaxBytes))
	e.uv(uint64(q.Wait / time.Millisecond))
	return frame(msgPullRequest, e.b)
}

// DecodePullRequest reads a pull request from r.
func DecodePullRequest(r io.Reader, max int) (*PullRequest, error) {
	body, err := readFrame(r, msgPullRequest, max)
	if err != nil {
		return nil, err
	}
	d := dec{b: body}
	q := &PullRequest{From: d.str(256), Scopes: d.strs(), Origins: d.strs(), Summary: d.summary()}
	q.MaxBytes = uint32(min(d.uv(), 1<<31))
	q.Wait = time.Duration(min(d.uv(), uint64(time.Hour/time.Millisecond))) * time.Millisecond
	return q, d.end()
}

// EncodePullResponse returns the wire form of p.
// EncodePullResponse returns the wire form of p in p.Version (1 when
// zero).
func EncodePullResponse(p *PullResponse) []byte {
	var e enc
	e.str(p.From)
	e.summary(p.Summary)
	e.flag(p.More)
	e.flag(p.NeedSnapshot)
	v := max(p.Version, MinProtocolVersion)
	e.uv(uint64(len(p.Changes)))
	for _, c := range p.Changes {
		if v < 3 && c.Set != nil {
			// The previous protocols know no Set: the whole value goes,
			// and the peer merges the record whole.
			legacy := *c
			legacy.Set = nil
			c = &legacy
		}
		e.raw(store.AppendChange(nil, c))
	}
	if v >= 2 {
		e.uv(uint64(p.ServerTime.UnixNano()))
	}
	return frameVersion(v, msgPullResponse, e.b)
}

// DecodePullResponse reads a pull response from r.
func DecodePullResponse(r io.Reader, max int) (*PullResponse, error) {
	body, v, err := readFrameVersion(r, msgPullResponse, max)
	if err != nil {
		return nil, err
	}
	d := dec{b: body}
	p := &PullResponse{From: d.str(256), Summary: d.summary(), More: d.flag(), NeedSnapshot: d.flag(), Version: v}
	n := d.count(len(body))
	for i := 0; i < n && d.err == nil; i++ {
		c, err := store.DecodeChange(d.raw(len(body)))
		if err != nil && d.err == nil {
			d.fail("change %d: %v", i+1, err)
		}
		p.Changes = append(p.Changes, c)
	}
	if v >= 2 && d.err == nil {
		p.ServerTime = time.Unix(0, int64(d.uv()))
	}
	return p, d.end()
}

// EncodeSnapshotRequest returns the wire form of q.
func EncodeSnapshotRequest(q *SnapshotRequest) []byte {
	var e enc
	e.str(q.From)
	e.strs(q.Scopes)
	e.str(q.After)
	e.uv(uint64(q.MaxBytes))
	return frame(msgSnapshotRequest, e.b)
}

// DecodeSnapshotRequest reads a snapshot request from r.
func DecodeSnapshotRequest(r io.Reader, max int) (*SnapshotRequest, error) {
	body, err := readFrame(r, msgSnapshotRequest, max)
	if err != nil {
		return nil, err
	}
	d := dec{b: body}
	q := &SnapshotRequest{From: d.str(256), Scopes: d.strs(), After: d.str(4096)}
	q.MaxBytes = uint32(min(d.uv(), 1<<31))
	return q, d.end()
}

// EncodeSnapshotPage returns the wire form of a snapshot page for a peer
// that speaks protocol version v: from 3 on, records carry their change
// graph (field-level merge); before, they go in the first record format.
func EncodeSnapshotPage(p *store.SnapshotPage, v uint16) []byte {
	var e enc
	e.summary(p.Summary)
	e.str(p.After)
	e.str(p.Last)
	e.flag(p.Done)
	e.uv(uint64(len(p.Records)))
	for _, r := range p.Records {
		e.str(r.Table)
		e.str(r.Key)
		wire := *r
		wire.History = nil // local to the sender
		if v >= 3 {
			e.raw(store.AppendRecord(nil, &wire))
		} else {
			e.raw(store.AppendRecordV1(nil, &wire))
		}
	}
	return frame(msgSnapshotResponse, e.b)
}

// DecodeSnapshotPage reads a snapshot page from r.
func DecodeSnapshotPage(r io.Reader, max int) (*store.SnapshotPage, error) {
	body, err := readFrame(r, msgSnapshotResponse, max)
	if err != nil {
		return nil, err
	}
	d := dec{b: body}
	p := &store.SnapshotPage{Summary: d.summary(), After: d.str(4096), Last: d.str(4096), Done: d.flag()}
	n := d.count(len(body))
	for i := 0; i < n && d.err == nil; i++ {
		table, key := d.str(64), d.str(1024)
		rec, err := store.DecodeRecord(table, key, d.raw(len(body)))
		if err != nil && d.err == nil {
			d.fail("record %s/%s: %v", table, key, err)
		}
		p.Records = append(p.Records, rec)
	}
	return p, d.end()
}

// EncodeDigests returns the wire form of a digest response.
func EncodeDigests(r *DigestResponse) []byte {
	var e enc
	e.str(r.Cluster)
	e.summary(r.Summary)
	tables := make([]string, 0, len(r.Digests))
	for t := range r.Digests {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	e.uv(uint64(len(tables)))
	for _, t := range tables {
		d := r.Digests[t]
		e.str(t)
		e.str(d.Root)
		for i := range d.Buckets {
			e.b = append(e.b, d.Buckets[i][:]...)
		}
	}
	return frame(msgDigestResponse, e.b)
}

// DecodeDigests reads a digest response from r.
func DecodeDigests(r io.Reader, max int) (*DigestResponse, error) {
	body, err := readFrame(r, msgDigestResponse, max)
	if err != nil {
		return nil, err
	}
	d := dec{b: body}
	out := &DigestResponse{Cluster: d.str(256), Summary: d.summary(), Digests: map[string]store.Digest{}}
	n := d.count(1024)
	for i := 0; i < n && d.err == nil; i++ {
		dg := store.Digest{Table: d.str(64), Root: d.str(64)}
		size := len(dg.Buckets) * len(dg.Buckets[0])
		if len(d.b) < size {
			d.fail("digest of %s truncated", dg.Table)
			break
		}
		for j := range dg.Buckets {
			copy(dg.Buckets[j][:], d.b[j*len(dg.Buckets[0]):])
		}
		d.b = d.b[size:]
		out.Digests[dg.Table] = dg
	}
	return out, d.end()
}
