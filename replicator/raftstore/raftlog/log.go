package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/pbxtopo/pbxtopo/internal/atomicfile"
)

// Options tunes a Log; the zero value is the default.
type Options struct {
	// SegmentSize is the size past which a new segment file is started
	// (default 64 MB). Compaction drops whole segments.
	SegmentSize int64
}

const (
	defaultSegmentSize = 64 << 20
	segmentExt         = ".wal"
	stableFile         = "stable"
	headFile           = "head"
)

var keyHead = "first"

// segment is one file of consecutive entries starting at base.
type segment struct {
	base uint64
	path string
	f    *os.File
	offs []int64 // offs[i]: where entry base+i starts; the last element is the end
}

func (s *segment) n() int       { return len(s.offs) - 1 }
func (s *segment) size() int64  { return s.offs[len(s.offs)-1] }
func (s *segment) last() uint64 { return s.base + uint64(s.n()) - 1 }

// Log is a raft.LogStore and raft.StableStore in one directory. Raft reads
// entries (replication) while it appends, so readers take mu shared and
// only publish/delete take it exclusively; an append writes and fsyncs
// past the published end under wmu alone.
type Log struct {
	dir  string
	opts Options

	wmu    sync.Mutex // serialises StoreLogs and DeleteRange
	buf    []byte     // encoding buffer (wmu)
	failed error      // a write that could not be undone: refuse the next ones (wmu)
	head   uint64     // the persisted first index (wmu)

	mu          sync.RWMutex
	segs        []*segment
	first, last uint64 // 0, 0: empty
	closed      bool

	smu    sync.Mutex
	stable map[string][]byte

	repairs []string
	stats   struct{ appends, fsyncs, bytes atomic.Uint64 }
}

// Stats counts what the log cost the disk since it opened.
type Stats struct {
	Appends uint64 // StoreLogs calls written
	Fsyncs  uint64 // fsyncs of segments, the directory and the small files
	Bytes   uint64 // bytes of records appended
}

// Stats returns the counters since Open.
func (l *Log) Stats() Stats {
	return Stats{Appends: l.stats.appends.Load(), Fsyncs: l.stats.fsyncs.Load(), Bytes: l.stats.bytes.Load()}
}

var (
	_ raft.LogStore          = (*Log)(nil)
	_ raft.StableStore       = (*Log)(nil)
	_ raft.MonotonicLogStore = (*Log)(nil)
)

// Open opens (creating it if needed) the log in dir. A torn tail (the last
// batch half written when the machine stopped) is cut; any other damage is
// an ErrCorrupt naming the file and offset.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		// A new log: its directory's entry must last as long as its files.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.SyncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	}
	l := &Log{dir: dir, opts: opts}
	var err error
	if l.stable, err = readKV(filepath.Join(dir, stableFile)); err != nil {
		return nil, err
	}
	hm, err := readKV(filepath.Join(dir, headFile))
	if err != nil {
		return nil, err
	}
	if v, ok := hm[keyHead]; ok && len(v) == 8 {
		l.head = binary.BigEndian.Uint64(v)
	}
	if err := l.load(); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

// Repairs says what Open cut from a torn tail, if anything (for the log).
func (l *Log) Repairs() []string { return l.repairs }

// load scans the segment files and builds the index of entry offsets.
func (l *Log) load() error {
	des, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases []uint64
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		base, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || base == 0 {
			return fmt.Errorf("%w: unexpected file %s in %s", ErrCorrupt, name, l.dir)
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for i, base := range bases {
		path := filepath.Join(l.dir, segmentName(base))
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		seg := &segment{base: base, path: path, f: f}
		if err := l.scan(seg, i == len(bases)-1); err != nil {
			f.Close()
			return err
		}
		if seg.n() == 0 {
			// Only the last segment can be empty: created, then nothing
			// (whole) written to it before the stop.
			f.Close()
			if i != len(bases)-1 {
				return fmt.Errorf("%w: %s holds no entries but later segments follow", ErrCorrupt, path)
			}
			if err := os.Remove(path); err != nil {
				return err
			}
			if err := atomicfile.SyncDir(l.dir); err != nil {
				return err
			}
			continue
		}
		if len(l.segs) > 0 && base != l.segs[len(l.segs)-1].last()+1 {
			f.Close()
			return fmt.Errorf("%w: %s starts at index %d but the previous segment ends at %d", ErrCorrupt, path, base, l.segs[len(l.segs)-1].last())
		}
		l.segs = append(l.segs, seg)
	}
	if len(l.segs) == 0 {
		return nil
	}
	l.first = max(l.head, l.segs[0].base)
	l.last = l.segs[len(l.segs)-1].last()
	if l.first > l.last {
		return fmt.Errorf("%w: %s: the log starts at %d (file %s) but ends at %d", ErrCorrupt, l.dir, l.first, headFile, l.last)
	}
	return nil
}

// scan reads seg's records, checking each and their order. A damaged
// record in the last segment is a torn write if nothing of a later batch
// follows it: the file is cut there. Anywhere else it is an error.
func (l *Log) scan(seg *segment, last bool) error {
	fi, err := seg.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	seg.offs = []int64{0}
	off, want := int64(0), seg.base
	for off < size {
		rec, h, err := readRecord(seg.f, off, size)
		if err == nil && h.index != want {
			return fmt.Errorf("%w: %s at offset %d: entry %d where %d was expected", ErrCorrupt, seg.path, off, h.index, want)
		}
		if err != nil {
			if !last || laterBatchFollows(seg.f, off, size, want) {
				return fmt.Errorf("%w: %s at offset %d (entry %d): %v", ErrCorrupt, seg.path, off, want, err)
			}
			if err := seg.f.Truncate(off); err != nil {
				return err
			}
			if err := seg.f.Sync(); err != nil {
				return err
			}
			l.repairs = append(l.repairs, fmt.Sprintf("%s: cut a torn tail of %d bytes at offset %d (from entry %d): %v", seg.path, size-off, off, want, err))
			return nil
		}
		off += int64(len(rec))
		seg.offs = append(seg.offs, off)
		want++
	}
	return nil
}

// readRecord reads and checks the record at off in a file of size bytes.
func readRecord(f io.ReaderAt, off, size int64) ([]byte, recordHead, error) {
	if size-off < frameHeader {
		return nil, recordHead{}, errShort
	}
	var hdr [frameHeader]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return nil, recordHead{}, err
	}
	n, err := frameLen(hdr[:])
	if err != nil {
		return nil, recordHead{}, err
	}
	if size-off < int64(n) {
		return nil, recordHead{}, errShort
	}
	rec := make([]byte, n)
	if _, err := f.ReadAt(rec, off); err != nil {
		return nil, recordHead{}, err
	}
	h, err := checkRecord(rec)
	return rec, h, err
}

// laterBatchFollows reports whether a good record of a batch begun after
// entry idx follows the damaged record at off. Such a batch was written
// only once idx's batch had been fsynced and acknowledged, so the damage
// is not a torn write and cutting would lose acknowledged entries.
func laterBatchFollows(f io.ReaderAt, off, size int64, idx uint64) bool {
	var hdr [frameHeader]byte
	if size-off < frameHeader {
		return false
	}
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return false
	}
	n, err := frameLen(hdr[:])
	if err != nil {
		return false // the length itself is damaged: nothing to follow
	}
	for off += int64(n); off < size; {
		rec, h, err := readRecord(f, off, size)
		if err != nil {
			return false
		}
		if h.batch > idx {
			return true
		}
		off += int64(len(rec))
	}
	return false
}

func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentExt) }

// FirstIndex returns the first index in the log, 0 when it is empty.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first, nil
}

// LastIndex returns the last index in the log, 0 when it is empty.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.last, nil
}

// GetLog reads entry idx into out.
func (l *Log) GetLog(idx uint64, out *raft.Log) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	if l.last == 0 || idx < l.first || idx > l.last {
		l.mu.RUnlock()
		return raft.ErrLogNotFound
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > idx }) - 1
	seg := l.segs[i]
	k := idx - seg.base
	off, end := seg.offs[k], seg.offs[k+1]
	rec := make([]byte, end-off)
	_, err := seg.f.ReadAt(rec, off)
	l.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("raftlog: read entry %d from %s: %w", idx, seg.path, err)
	}
	if _, err := decodeRecord(rec, out); err != nil {
		return fmt.Errorf("%w: %s at offset %d (entry %d): %v", ErrCorrupt, seg.path, off, idx, err)
	}
	if out.Index != idx {
		return fmt.Errorf("%w: %s at offset %d: entry %d where %d was expected", ErrCorrupt, seg.path, off, out.Index, idx)
	}
	return nil
}

// StoreLog appends one entry.
func (l *Log) StoreLog(e *raft.Log) error { return l.StoreLogs([]*raft.Log{e}) }

// StoreLogs appends entries that follow the last one: one write and one
// fsync for the batch.
func (l *Log) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	first := logs[0].Index
	if first == 0 || (l.last != 0 && first != l.last+1) {
		return fmt.Errorf("raftlog: append at index %d, but the log ends at %d", first, l.last)
	}
	for i := 1; i < len(logs); i++ {
		if logs[i].Index != logs[i-1].Index+1 {
			return fmt.Errorf("raftlog: entries %d and %d in one append are not consecutive", logs[i-1].Index, logs[i].Index)
		}
	}
	seg, fresh, err := l.tail(first)
	if err != nil {
		return err
	}
	buf := l.buf[:0]
	offs := make([]int64, 0, len(logs))
	start := seg.size()
	for _, e := range logs {
		buf = appendRecord(buf, e, first)
		offs = append(offs, start+int64(len(buf)))
	}
	if cap(buf) <= 16<<20 { // keep the buffer unless a huge batch grew it
		l.buf = buf
	}
	if _, err = seg.f.WriteAt(buf, start); err == nil {
		err = seg.f.Sync()
		l.stats.fsyncs.Add(1)
	}
	if err != nil {
		// Undo the partial write so no stale record can follow a later,
		// shorter one; if even that fails, refuse further writes.
		if fresh {
			seg.f.Close()
			if rerr := os.Remove(seg.path); rerr != nil {
				l.failed = rerr
			}
		} else if terr := seg.f.Truncate(start); terr != nil {
			l.failed = terr
		} else if serr := seg.f.Sync(); serr != nil {
			l.failed = serr
		}
		return fmt.Errorf("raftlog: append %d entries to %s: %w", len(logs), seg.path, err)
	}
	l.mu.Lock()
	seg.offs = append(seg.offs, offs...)
	if fresh {
		l.segs = append(l.segs, seg)
	}
	if l.last == 0 {
		l.first = first
	}
	l.last = logs[len(logs)-1].Index
	l.mu.Unlock()
	l.stats.appends.Add(1)
	l.stats.bytes.Add(uint64(len(buf)))
	return nil
}

func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// tail returns the segment an append at index first goes to: the last
// one, or a new one when the log is empty or the last one is full.
func (l *Log) tail(first uint64) (*segment, bool, error) {
	if len(l.segs) > 0 && l.segs[len(l.segs)-1].size() < l.opts.SegmentSize {
		return l.segs[len(l.segs)-1], false, nil
	}
	if len(l.segs) == 0 && l.head > first {
		// The log was emptied (a snapshot installed) and starts again
		// below its old head: forget the head, or reopening would hide
		// these entries.
		if err := l.writeHead(0); err != nil {
			return nil, false, err
		}
	}
	path := filepath.Join(l.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("raftlog: new segment: %w", err)
	}
	l.stats.fsyncs.Add(1)
	if err := atomicfile.SyncDir(l.dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, err
	}
	return &segment{base: first, path: path, f: f, offs: []int64{0}}, true, nil
}

func (l *Log) writeHead(first uint64) error {
	v := binary.BigEndian.AppendUint64(nil, first)
	l.stats.fsyncs.Add(2) // the file and the directory
	if err := writeKV(filepath.Join(l.dir, headFile), map[string][]byte{keyHead: v}); err != nil {
		return fmt.Errorf("raftlog: record the first index: %w", err)
	}
	l.head = first
	return nil
}

// DeleteRange deletes entries min to max inclusive: a prefix (compaction
// after a snapshot), a suffix (raft dropping entries that conflict with
// its leader's), or everything.
func (l *Log) DeleteRange(min, max uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == 0 || max < l.first || min > l.last || min > max {
		return nil
	}
	var err error
	switch {
	case min <= l.first && max >= l.last:
		err = l.deleteAll()
	case min <= l.first:
		err = l.deleteHead(max + 1)
	case max >= l.last:
		err = l.deleteTail(min)
	default:
		return fmt.Errorf("raftlog: cannot delete %d-%d from the middle of %d-%d", min, max, l.first, l.last)
	}
	if err != nil {
		// Memory and disk may now disagree; a reopen reads the disk.
		l.failed = err
		return fmt.Errorf("raftlog: delete %d-%d: %w", min, max, err)
	}
	return nil
}

func (l *Log) deleteAll() error {
	// From the last segment back: a stop halfway leaves a prefix, as if
	// the tail had been cut.
	for len(l.segs) > 0 {
		if err := l.dropSegment(len(l.segs) - 1); err != nil {
			return err
		}
	}
	l.first, l.last = 0, 0
	l.stats.fsyncs.Add(1)
	return atomicfile.SyncDir(l.dir)
}

func (l *Log) deleteHead(first uint64) error {
	k := 0
	for k < len(l.segs) && l.segs[k].last() < first {
		k++
	}
	if l.segs[k].base < first {
		// The new first entry is inside a segment: record where the log
		// starts, since the file still holds the entries before it.
		if err := l.writeHead(first); err != nil {
			return err
		}
	}
	for range k {
		if err := l.dropSegment(0); err != nil {
			return err
		}
	}
	l.first = first
	if k > 0 {
		l.stats.fsyncs.Add(1)
		return atomicfile.SyncDir(l.dir)
	}
	return nil
}

func (l *Log) deleteTail(from uint64) error {
	removed := false
	for l.segs[len(l.segs)-1].base >= from {
		if err := l.dropSegment(len(l.segs) - 1); err != nil {
			return err
		}
		removed = true
	}
	if removed {
		l.stats.fsyncs.Add(1)
		if err := atomicfile.SyncDir(l.dir); err != nil {
			return err
		}
	}
	seg := l.segs[len(l.segs)-1]
	k := from - seg.base
	if err := seg.f.Truncate(seg.offs[k]); err != nil {
		return err
	}
	l.stats.fsyncs.Add(1)
	if err := seg.f.Sync(); err != nil {
		return err
	}
	seg.offs = seg.offs[:k+1]
	l.last = from - 1
	return nil
}

func (l *Log) dropSegment(i int) error {
	seg := l.segs[i]
	seg.f.Close()
	if err := os.Remove(seg.path); err != nil {
		return err
	}
	l.segs = append(l.segs[:i], l.segs[i+1:]...)
	return nil
}

// IsMonotonic tells raft the log cannot have gaps: it empties the log when
// it installs a snapshot instead of leaving older entries before it.
func (l *Log) IsMonotonic() bool { return true }

// Set stores a stable key (the term, the vote), durably before it returns.
func (l *Log) Set(k, v []byte) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	next := make(map[string][]byte, len(l.stable)+1)
	for key, val := range l.stable {
		next[key] = val
	}
	next[string(k)] = append([]byte(nil), v...)
	l.stats.fsyncs.Add(2) // the file and the directory
	if err := writeKV(filepath.Join(l.dir, stableFile), next); err != nil {
		return fmt.Errorf("raftlog: write stable key %q: %w", k, err)
	}
	l.stable = next
	return nil
}

// Get returns a stable key's value, or ErrKeyNotFound.
func (l *Log) Get(k []byte) ([]byte, error) {
	l.smu.Lock()
	defer l.smu.Unlock()
	v, ok := l.stable[string(k)]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return append([]byte(nil), v...), nil
}

// SetUint64 stores a number under a stable key (big-endian, as
// raft-boltdb did, so migrated values read the same).
func (l *Log) SetUint64(k []byte, v uint64) error {
	return l.Set(k, binary.BigEndian.AppendUint64(nil, v))
}

// GetUint64 returns a number stored with SetUint64.
func (l *Log) GetUint64(k []byte) (uint64, error) {
	v, err := l.Get(k)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: stable key %q holds %d bytes, not a number", ErrCorrupt, k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// StableKeys returns the stable keys (migration, tests).
func (l *Log) StableKeys() []string {
	l.smu.Lock()
	defer l.smu.Unlock()
	keys := make([]string, 0, len(l.stable))
	for k := range l.stable {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Close closes the files. Safe to call twice.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	var errs []error
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	return errors.Join(errs...)
}
