package replicator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/wire"
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
		return nil, 0, readError("header", err)
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
	if k, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, fmt.Errorf("%w: %s truncated at %d of %d bytes", ErrMessage, msgNames[want], k, n)
		}
		return nil, 0, readError(msgNames[want], err)
	}
	sum := binary.BigEndian.Uint32(body[n:])
	body = body[:n]
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, 0, fmt.Errorf("%w: %s fails its checksum", ErrMessage, msgNames[want])
	}
	return body, v, nil
}

// readError classifies a failed read: a message that ends early is
// malformed; any other error is the connection's (ErrUnread).
func readError(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: %v", ErrMessage, what, err)
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Errorf("%w: %s: %v", ErrTooLarge, what, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrUnread, what, err)
}

// enc and dec are the wire primitives with the summary added.
type enc struct{ wire.Encoder }

func (e *enc) summary(s store.Summary) { e.Bytes(store.AppendSummary(nil, s)) }

type dec struct{ wire.Decoder }

func newDec(body []byte) dec { return dec{wire.Decoder{B: body, Kind: ErrMessage}} }

func (d *dec) summary() store.Summary {
	b := d.Raw(16<<20, "summary")
	if d.Err != nil {
		return nil
	}
	s, err := store.DecodeSummary(b)
	if err != nil {
		d.Fail("summary: %v", err)
	}
	return s
}

// EncodePullRequest returns the wire form of q.
func EncodePullRequest(q *PullRequest) []byte {
	var e enc
	e.String(q.From)
	e.Strings(q.Scopes)
	e.Strings(q.Origins)
	e.summary(q.Summary)
	e.Uvarint(uint64(q.MaxBytes))
	e.Uvarint(uint64(q.Wait / time.Millisecond))
	return frame(msgPullRequest, e.B)
}

// DecodePullRequest reads a pull request from r.
func DecodePullRequest(r io.Reader, max int) (*PullRequest, error) {
	body, err := readFrame(r, msgPullRequest, max)
	if err != nil {
		return nil, err
	}
	d := newDec(body)
	q := &PullRequest{From: d.String(256, "sender"), Scopes: d.Strings(4096, 256, "names"), Origins: d.Strings(4096, 256, "names"), Summary: d.summary()}
	q.MaxBytes = uint32(min(d.Uvarint(), 1<<31))
	q.Wait = time.Duration(min(d.Uvarint(), uint64(time.Hour/time.Millisecond))) * time.Millisecond
	return q, d.Done()
}

// EncodePullResponse returns the wire form of p.
// EncodePullResponse returns the wire form of p in p.Version (1 when
// zero).
func EncodePullResponse(p *PullResponse) []byte {
	var e enc
	// Sized once for the batch (up to MaxBatchBytes), and one buffer for
	// every change: not grown and copied change by change.
	size := 256
	for _, c := range p.Changes {
		size += 64 + len(c.Dot.Stream) + len(c.Table) + len(c.Key) + len(c.Value) + len(c.Author) + 32*len(c.Context)
	}
	e.B = make([]byte, 0, size)
	e.String(p.From)
	e.summary(p.Summary)
	e.Bool(p.More)
	e.Bool(p.NeedSnapshot)
	v := max(p.Version, MinProtocolVersion)
	e.Uvarint(uint64(len(p.Changes)))
	var scratch []byte
	for _, c := range p.Changes {
		if v < 3 && c.Set != nil {
			// The previous protocols know no Set: the whole value goes,
			// and the peer merges the record whole.
			legacy := *c
			legacy.Set = nil
			c = &legacy
		}
		scratch = store.AppendChange(scratch[:0], c)
		e.Bytes(scratch)
	}
	if v >= 2 {
		e.Uvarint(uint64(p.ServerTime.UnixNano()))
	}
	return frameVersion(v, msgPullResponse, e.B)
}

// DecodePullResponse reads a pull response from r.
func DecodePullResponse(r io.Reader, max int) (*PullResponse, error) {
	body, v, err := readFrameVersion(r, msgPullResponse, max)
	if err != nil {
		return nil, err
	}
	d := newDec(body)
	p := &PullResponse{From: d.String(256, "sender"), Summary: d.summary(), More: d.Bool(), NeedSnapshot: d.Bool(), Version: v}
	n := d.Count(len(body), "changes")
	for i := 0; i < n && d.Err == nil; i++ {
		c, err := store.DecodeChange(d.Raw(len(body), "change"))
		if err != nil && d.Err == nil {
			d.Fail("change %d: %v", i+1, err)
		}
		p.Changes = append(p.Changes, c)
	}
	if v >= 2 && d.Err == nil {
		p.ServerTime = time.Unix(0, int64(d.Uvarint()))
	}
	return p, d.Done()
}

// EncodeSnapshotRequest returns the wire form of q.
func EncodeSnapshotRequest(q *SnapshotRequest) []byte {
	var e enc
	e.String(q.From)
	e.Strings(q.Scopes)
	e.String(q.After)
	e.Uvarint(uint64(q.MaxBytes))
	return frame(msgSnapshotRequest, e.B)
}

// DecodeSnapshotRequest reads a snapshot request from r.
func DecodeSnapshotRequest(r io.Reader, max int) (*SnapshotRequest, error) {
	body, err := readFrame(r, msgSnapshotRequest, max)
	if err != nil {
		return nil, err
	}
	d := newDec(body)
	q := &SnapshotRequest{From: d.String(256, "sender"), Scopes: d.Strings(4096, 256, "names"), After: d.String(4096, "resume key")}
	q.MaxBytes = uint32(min(d.Uvarint(), 1<<31))
	return q, d.Done()
}

// EncodeSnapshotPage returns the wire form of a snapshot page for a peer
// that speaks protocol version v: from 3 on, records carry their change
// graph (field-level merge); before, they go in the first record format.
func EncodeSnapshotPage(p *store.SnapshotPage, v uint16) []byte {
	var e enc
	e.summary(p.Summary)
	e.String(p.After)
	e.String(p.Last)
	e.Bool(p.Done)
	e.Uvarint(uint64(len(p.Records)))
	for _, r := range p.Records {
		e.String(r.Table)
		e.String(r.Key)
		wire := *r
		wire.History = nil // local to the sender
		if v >= 3 {
			e.Bytes(store.AppendRecord(nil, &wire))
		} else {
			e.Bytes(store.AppendRecordV1(nil, &wire))
		}
	}
	return frame(msgSnapshotResponse, e.B)
}

// DecodeSnapshotPage reads a snapshot page from r.
func DecodeSnapshotPage(r io.Reader, max int) (*store.SnapshotPage, error) {
	body, err := readFrame(r, msgSnapshotResponse, max)
	if err != nil {
		return nil, err
	}
	d := newDec(body)
	p := &store.SnapshotPage{Summary: d.summary(), After: d.String(4096, "resume key"), Last: d.String(4096, "last key"), Done: d.Bool()}
	n := d.Count(len(body), "records")
	for i := 0; i < n && d.Err == nil; i++ {
		table, key := d.String(64, "table"), d.String(1024, "key")
		rec, err := store.DecodeRecord(table, key, d.Raw(len(body), "record"))
		if err != nil && d.Err == nil {
			d.Fail("record %s/%s: %v", table, key, err)
		}
		p.Records = append(p.Records, rec)
	}
	return p, d.Done()
}

// EncodeDigests returns the wire form of a digest response.
func EncodeDigests(r *DigestResponse) []byte {
	var e enc
	e.String(r.Cluster)
	e.summary(r.Summary)
	tables := make([]string, 0, len(r.Digests))
	for t := range r.Digests {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	e.Uvarint(uint64(len(tables)))
	for _, t := range tables {
		d := r.Digests[t]
		e.String(t)
		e.String(d.Root)
		for i := range d.Buckets {
			e.B = append(e.B, d.Buckets[i][:]...)
		}
	}
	return frame(msgDigestResponse, e.B)
}

// DecodeDigests reads a digest response from r.
func DecodeDigests(r io.Reader, max int) (*DigestResponse, error) {
	body, err := readFrame(r, msgDigestResponse, max)
	if err != nil {
		return nil, err
	}
	d := newDec(body)
	out := &DigestResponse{Cluster: d.String(256, "cluster"), Summary: d.summary(), Digests: map[string]store.Digest{}}
	n := d.Count(1024, "digests")
	for i := 0; i < n && d.Err == nil; i++ {
		dg := store.Digest{Table: d.String(64, "table"), Root: d.String(64, "digest")}
		size := len(dg.Buckets) * len(dg.Buckets[0])
		if len(d.B) < size {
			d.Fail("digest of %s truncated", dg.Table)
			break
		}
		for j := range dg.Buckets {
			copy(dg.Buckets[j][:], d.B[j*len(dg.Buckets[0]):])
		}
		d.B = d.B[size:]
		out.Digests[dg.Table] = dg
	}
	return out, d.Done()
}
