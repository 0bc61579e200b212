package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A request is one unit of work for the committer. Its fn runs inside a
// shared bbolt transaction and may run more than once (when another request
// of the same group fails, the group is retried without it), so it must
// keep no effects outside tx and st between runs.
type request struct {
	fn   func(tx *bolt.Tx, st *txState) error
	done chan error
}

// do hands fn to the committer and waits until its transaction is on disk.
func (s *Store) do(ctx context.Context, fn func(tx *bolt.Tx, st *txState) error) error {
	if err := s.Writable(); err != nil {
		return err
	}
	return s.doApplied(ctx, fn)
}

// doApplied is do for what Raft already committed (ApplyOps): it is
// tried even in the disk-full mode, since the log must go on.
func (s *Store) doApplied(ctx context.Context, fn func(tx *bolt.Tx, st *txState) error) error {
	if s.cfg.ReadOnly {
		return fmt.Errorf("%w: %s was opened for reading only", ErrReadOnly, s.cfg.Path)
	}
	r := &request{fn: fn, done: make(chan error, 1)}
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	select {
	case s.reqs <- r:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the request is committed or refused as a whole; waiting
	// for the answer even if ctx ends keeps "acknowledged" meaning "on disk".
	// A request queued while the store closed may find no committer left.
	select {
	case err := <-r.done:
		return err
	case <-s.done:
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// committer is the only writer. It takes every request that is waiting,
// applies them in one bbolt transaction and fsyncs once: concurrent writers
// share the cost of the disk flush (group commit) and no writer waits for a
// timer when it is alone.
func (s *Store) committer() {
	defer close(s.done)
	last := 1                  // requests in the previous commit
	var lastTook time.Duration // how long it took
	for {
		var first *request
		select {
		case first = <-s.reqs:
		case <-s.quit:
			s.drain()
			return
		}
		group := []*request{first}
		// With many writers, those acknowledged by the previous commit
		// come back within microseconds. Waiting for them (at most a
		// quarter of a commit) makes one big group instead of two
		// alternating half groups. A writer alone (last == 1) never waits.
		var wait <-chan time.Time
		if last > 1 {
			wait = time.After(min(lastTook/4, time.Millisecond))
		}
	fill:
		for len(group) < s.cfg.MaxBatch {
			select {
			case r := <-s.reqs:
				group = append(group, r)
				continue
			default:
			}
			if wait == nil || len(group) >= last {
				break
			}
			select {
			case r := <-s.reqs:
				group = append(group, r)
			case <-wait:
				break fill
			}
		}
		start := time.Now()
		s.commit(group)
		last, lastTook = len(group), time.Since(start)
	}
}

// drain answers the requests queued at Close.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			s.commit([]*request{r})
		default:
			return
		}
	}
}

func (s *Store) commit(group []*request) {
	for len(group) > 0 {
		failed := -1
		var failErr error
		st := s.newTxState()
		s.dbMu.RLock()
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, r := range group {
				if err := r.fn(tx, st); err != nil {
					failed, failErr = i, err
					return err
				}
			}
			return st.flush(tx)
		})
		s.dbMu.RUnlock()
		if err == nil {
			s.publish(st)
			for _, r := range group {
				r.done <- nil
			}
			return
		}
		if failed < 0 {
			// The commit itself failed (disk full, I/O error): nothing of
			// the group is on disk and every writer hears so.
			s.log.Error("store commit failed", "err", err, "requests", len(group))
			s.noteWriteError(err)
			werr := fmt.Errorf("store: commit: %w", err)
			if s.DiskFull() {
				werr = fmt.Errorf("%w (%w)", s.Writable(), err)
			}
			for _, r := range group {
				r.done <- werr
			}
			return
		}
		group[failed].done <- failErr
		group = slices.Delete(group, failed, failed+1)
	}
}

// txState is the state one transaction builds on top of the committed
// state; it becomes the committed state only after the commit succeeds.
type txState struct {
	s     *Store
	now   int64 // unix ms of the transaction
	lsn   uint64
	first uint64 // the oldest log entry kept
	hlc   HLC
	// incarnation is the store's, or the one an identity op sets.
	incarnation uint64
	horizon     Summary // the tombstone horizon, when this transaction moves it
	summary     Summary // streams changed in this transaction
	pruned      Summary
	logged      bool
	changes     int      // applied in this transaction
	tables      []string // tables whose records it wrote (one or two)
}

func (s *Store) newTxState() *txState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &txState{
		s:           s,
		now:         s.cfg.Now().UnixMilli(),
		lsn:         s.lsn,
		first:       s.first,
		incarnation: s.incarnation,
		hlc:         s.hlc,
		summary:     Summary{},
		pruned:      Summary{},
	}
}

// seq returns the highest applied sequence number of a stream.
func (st *txState) seq(stream Stream) uint64 {
	if v, ok := st.summary[stream]; ok {
		return v
	}
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	return st.s.summary[stream]
}

func (st *txState) flush(tx *bolt.Tx) error {
	m := tx.Bucket(bMeta)
	if err := m.Put(kLSN, u64(st.lsn)); err != nil {
		return err
	}
	if err := m.Put(kHLC, u64(uint64(st.hlc))); err != nil {
		return err
	}
	sb := tx.Bucket(bSummary)
	for k, v := range st.summary {
		if err := sb.Put([]byte(k), u64(v)); err != nil {
			return err
		}
	}
	pb := tx.Bucket(bPruned)
	for k, v := range st.pruned {
		if err := pb.Put([]byte(k), u64(v)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) publish(st *txState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	s.lsn = st.lsn
	s.first = st.first
	s.incarnation = st.incarnation
	s.hlc = st.hlc
	for k, v := range st.summary {
		s.summary[k] = v
	}
	for k, v := range st.pruned {
		s.pruned[k] = v
	}
	if st.horizon != nil {
		s.horizon = st.horizon
	}
	for _, t := range st.tables {
		if s.tableWrites == nil {
			s.tableWrites = map[string]uint64{}
		}
		s.tableWrites[t]++
	}
	if st.logged {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// tableBucket returns the bucket of a table, creating it when create is set.
func tableBucket(tx *bolt.Tx, table string, create bool) (*bolt.Bucket, error) {
	tb := tx.Bucket(bTables)
	if b := tb.Bucket([]byte(table)); b != nil || !create {
		return b, nil
	}
	return tb.CreateBucket([]byte(table))
}

func (s *Store) loadRecord(b *bolt.Bucket, table, key string) (*Record, error) {
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	r, err := s.decodeRecord(table, key, v)
	if err != nil {
		return nil, fmt.Errorf("store: record %s/%s: %w", table, key, err)
	}
	return r, nil
}

// Outcome says what applying a change did to its record.
type Outcome int

const (
	// Duplicate: the change was applied before; nothing happened.
	Duplicate Outcome = iota
	// Dominates: the change superseded every live version.
	Dominates
	// Concurrent: a version the change does not supersede remains, so the
	// record is now in conflict.
	Concurrent
)

func (o Outcome) String() string {
	return [...]string{"duplicate", "dominates", "concurrent"}[o]
}

// mergeVersion is the apply rule of DESIGN.md on one record: remove the
// versions the change supersedes, add the change's version, order the
// versions so the winner is first. It is a pure function of the record and
// the change, which is what makes every arrival order converge.
func mergeVersion(versions []Version, c *Change) ([]Version, Outcome) {
	out := make([]Version, 0, len(versions)+1)
	for _, v := range versions {
		if v.Dot == c.Dot {
			return versions, Duplicate
		}
		purged := v.Deleted && c.Horizon.Covers(v.Dot) // purged at the writer
		if !slices.Contains(c.Context, v.Dot) && !purged {
			out = append(out, v)
		}
	}
	out = append(out, Version{Dot: c.Dot, HLC: c.HLC, Author: c.Author, Deleted: c.Deleted, Value: c.Value})
	sortVersions(out)
	if len(out) > 1 {
		return out, Concurrent
	}
	return out, Dominates
}

// noteChange keeps the record's change graph: a node for c, and the
// values of the versions c superseded while they were one of several live
// versions: a field conflict between them may outlive them. A version
// superseded alone keeps no values: along a line of changes, a field's
// value at its setter is the value of the live version below it
// (view.go), so a quiet record's graph holds only ids. Every change gets
// a node, a creation too: a change the graph does not hold counts as seen
// by every replica (view.go), which a creation superseded before a
// concurrent one arrives is not. A graph that was empty (a record
// compacted, or of the previous release) gets nodes for the versions c
// superseded, for the same reason.
func noteChange(r *Record, c *Change, before, after []Version) error {
	superseded := func(v Version) bool {
		return !slices.ContainsFunc(after, func(a Version) bool { return a.Dot == v.Dot })
	}
	if r.graphLen() == 0 {
		for _, v := range before {
			if superseded(v) {
				r.addNode(Node{Dot: v.Dot, HLC: v.HLC, Author: v.Author, Deleted: v.Deleted})
			}
		}
	}
	if len(c.Dot.Stream) > 0 {
		r.addNode(Node{Dot: c.Dot, Context: c.Context, Set: c.Set, HLC: c.HLC, Author: c.Author, Deleted: c.Deleted})
	}
	if len(before) < 2 {
		return nil
	}
	g, err := r.nodes()
	if err != nil {
		return err
	}
	g = slices.Clone(g)
	for _, v := range before {
		if !superseded(v) {
			continue
		}
		i := slices.IndexFunc(g, func(n Node) bool { return n.Dot == v.Dot })
		if i < 0 {
			g = append(g, Node{Dot: v.Dot, HLC: v.HLC, Author: v.Author, Deleted: v.Deleted})
			i = len(g) - 1
		}
		g[i].Value, g[i].Deleted = v.Value, v.Deleted
	}
	r.Graph = g
	return nil
}

// bulkChanges is the size from which a transaction fills table pages.
const bulkChanges = 256

// applyChange applies c, whose dot and timestamp are final, to its record
// and every index, and appends it to the log.
func (st *txState) applyChange(tx *bolt.Tx, c *Change) (Outcome, error) {
	b, err := tableBucket(tx, c.Table, true)
	if err != nil {
		return 0, err
	}
	// A bulk transaction (an import, a peer's batch) writes its keys in
	// ascending order: pages split full instead of half full, which
	// halves the file a million imported records take.
	if st.changes++; st.changes > bulkChanges {
		b.FillPercent = 1.0
	}
	old, err := st.s.loadRecord(b, c.Table, c.Key)
	if err != nil {
		return 0, err
	}
	var oldVersions []Version
	if old != nil {
		oldVersions = old.Versions
	}
	versions, outcome := mergeVersion(oldVersions, c)
	// A Duplicate here means a snapshot brought the version before its
	// change arrived: the versions stay; the change is still logged (so it
	// can be forwarded), counted in the summary and in the history.
	if err := st.appendLog(tx, c); err != nil {
		return 0, err
	}
	rec := &Record{Table: c.Table, Key: c.Key, Versions: versions, History: []uint64{st.lsn}}
	if old != nil {
		rec.History = append(st.retained(old.History), st.lsn)
		rec.Graph, rec.lazy = old.Graph, old.lazy
	}
	if outcome != Duplicate {
		if err := noteChange(rec, c, oldVersions, versions); err != nil {
			return 0, fmt.Errorf("store: record %s/%s: %w", c.Table, c.Key, err)
		}
	}
	if err := st.putRecord(tx, b, old, rec); err != nil {
		return 0, err
	}
	if c.HLC > st.hlc {
		st.hlc = c.HLC
	}
	st.summary[c.Dot.Stream] = c.Dot.Seq
	return outcome, nil
}

// putRecord writes rec (or removes the record when rec has no versions)
// and keeps the conflict, tombstone and digest indexes in step.
func (st *txState) putRecord(tx *bolt.Tx, b *bolt.Bucket, old, rec *Record) error {
	if !slices.Contains(st.tables, rec.Table) {
		st.tables = append(st.tables, rec.Table)
	}
	ik := indexKey(rec.Table, rec.Key)
	var err error
	if len(rec.Versions) == 0 {
		err = b.Delete([]byte(rec.Key))
	} else {
		var enc []byte
		if enc, err = st.s.encodeRecord(tx, rec); err == nil {
			err = b.Put([]byte(rec.Key), enc)
		}
	}
	if err != nil {
		return err
	}
	for _, ix := range [...]struct {
		bucket []byte
		on     bool
	}{
		{bConflicts, len(rec.Versions) > 0 && rec.Conflict()},
		{bTombs, tombstone(rec)},
		{bGraphs, len(rec.Versions) > 0 && rec.graphLen() > 0},
	} {
		var err error
		switch {
		case old != nil:
			err = setIndex(tx.Bucket(ix.bucket), ik, ix.on)
		case ix.on:
			// A record that was not there is in no index (its removal took
			// it out of each): a new record, the common case of an import
			// and of a catch-up, costs no index search.
			err = tx.Bucket(ix.bucket).Put(ik, nil)
		}
		if err != nil {
			return err
		}
	}
	// One 16-byte entry per digest bucket: a write dirties one small page
	// of the digest, not a 4 KiB value.
	dk := digestKey(rec.Table, digestBucket(rec.Key))
	digests := tx.Bucket(bDigest)
	d := make([]byte, digestSize)
	copy(d, digests.Get(dk))
	xorInto((*[digestSize]byte)(d), recordHash(old))
	xorInto((*[digestSize]byte)(d), recordHash(rec))
	return digests.Put(dk, d)
}

// tombstone reports whether every live version of r is a deletion.
func tombstone(r *Record) bool {
	return len(r.Versions) > 0 && !slices.ContainsFunc(r.Versions, func(v Version) bool { return !v.Deleted })
}

// retained returns the log positions of h that are still in the log.
func (st *txState) retained(h []uint64) []uint64 {
	i := 0
	for i < len(h) && h[i] < st.first {
		i++
	}
	return h[i:len(h):len(h)]
}

func (st *txState) appendLog(tx *bolt.Tx, c *Change) error {
	st.lsn++
	if st.first == 0 {
		st.first = st.lsn
	}
	st.logged = true
	lsn := u64(st.lsn)
	// The log and the dots index only grow at their end: full pages halve
	// their size on disk and in a large transaction's memory.
	logB, dots := tx.Bucket(bLog), tx.Bucket(bDots)
	logB.FillPercent, dots.FillPercent = 1.0, 1.0
	entry, err := st.s.encodeLogEntry(tx, st.now, c)
	if err != nil {
		return err
	}
	if err := logB.Put(lsn, entry); err != nil {
		return err
	}
	return dots.Put(dotKey(c.Dot), lsn)
}

// setIndex puts k in index b or removes it. A Put or Delete dirties the
// key's page even when it changes nothing, and every page a commit dirties
// is written and fsynced: an edit of a record already indexed leaves the
// index alone.
func setIndex(b *bolt.Bucket, k []byte, on bool) error {
	// Seek, not Get: a key put with a nil value earlier in this
	// transaction reads back as nil.
	if found, _ := b.Cursor().Seek(k); bytes.Equal(found, k) == on {
		return nil
	}
	if on {
		return b.Put(k, nil)
	}
	return b.Delete(k)
}

func indexKey(table, key string) []byte {
	k := make([]byte, 0, len(table)+1+len(key))
	k = append(k, table...)
	k = append(k, 0)
	return append(k, key...)
}

func splitIndexKey(k []byte) (string, string) {
	for i, c := range k {
		if c == 0 {
			return string(k[:i]), string(k[i+1:])
		}
	}
	return string(k), ""
}

func dotKey(d Dot) []byte {
	k := make([]byte, 0, len(d.Stream)+9)
	k = append(k, d.Stream...)
	k = append(k, 0)
	return append(k, u64(d.Seq)...)
}

// Digests: per table, 256 buckets of 16 bytes; each live record adds (XOR)
// the hash of its key and the dots of its non-deleted versions to the
// bucket of its key. Maintained on every write, compared by verify.
const (
	digestBuckets = 256
	digestSize    = 16
)

func digestKey(table string, bucket int) []byte {
	return append(append([]byte(table), 0), byte(bucket))
}

func digestBucket(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % digestBuckets)
}

func recordHash(r *Record) [digestSize]byte {
	var out [digestSize]byte
	if r == nil {
		return out
	}
	var dots []string
	for _, v := range r.Versions {
		if !v.Deleted {
			dots = append(dots, v.Dot.String())
		}
	}
	if len(dots) == 0 {
		return out
	}
	slices.Sort(dots)
	h := sha256.New()
	h.Write(indexKey(r.Table, r.Key))
	for _, d := range dots {
		h.Write([]byte{0})
		h.Write([]byte(d))
	}
	copy(out[:], h.Sum(nil))
	return out
}

func xorInto(dst *[digestSize]byte, src [digestSize]byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}
