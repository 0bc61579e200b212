package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Status is what a node observes of its Asterisk (registrations, device
// and agent state, voicemail counts). It is not configuration: it is not
// versioned, has no history, never conflicts and is not in the digests.
// Each entry is written only by the node that observes it and replaced
// whole.
//
// Status travels between clusters too, as coalesced snapshots (DESIGN.md
// §10). For that every entry carries a stamp next to its value:
//
//   - its clock: when its owner wrote it, a hybrid timestamp that grows
//     with every status write of the owner (max(last+1, proposed time)), so
//     the newest value of a key wins wherever it arrives, in any order;
//   - its local sequence number: a counter of this store, taken anew each
//     time the entry changes here, indexed (status_seq bucket), so
//     StatusSince hands a peer every entry changed since the last number it
//     saw, each once with its latest value: a phone that flapped 100 times
//     since then ships once.
//
// A removed entry keeps its stamp as a marker (no value) so the removal
// ships too and an older value arriving late does not bring it back.
//
// The owner of a key is the cluster named by its second path element
// (ext/<cluster>/..., trunk/<cluster>/..., health/<cluster>/...). A
// cluster is the single writer of its own keys: MergeStatus never takes
// them from a peer (a ring hands a cluster its own entries back). Keys
// without an owner are local: they are neither shipped nor merged.
// Every node of a Raft cluster applies the same status ops in the same
// order, so stamps and sequence numbers are the same on every node and a
// new leader serves peers from where the old one left off.

// Status buckets and meta keys. The buckets are made by the first status
// write, so stores of older versions open unchanged.
var (
	bStatusStamps = []byte("status_stamps") // key → stamp
	bStatusSeq    = []byte("status_seq")    // local seq → key
	kStatusSeq    = []byte("status_seq")    // meta: the last local status seq
	kStatusClock  = []byte("status_clock")  // meta: the last clock this store gave its own writes
)

// StatusEntry is one status entry as replication moves it.
type StatusEntry struct {
	Key   string
	Value []byte // nil: the entry was removed
	// Clock is when the entry's owner wrote it (the owner's status clock).
	Clock HLC
	// Seq is the entry's local sequence number at the store that read it
	// (StatusSince); MergeStatus ignores it.
	Seq uint64
}

// StatusPage is one bounded answer of StatusSince.
type StatusPage struct {
	// Epoch names the store's life: a peer that saw another epoch (the
	// store was replaced) must start again from 0. It is the incarnation.
	Epoch uint64
	// Head is the store's last local status sequence number.
	Head uint64
	// Next is the number to pass as after next time: the last one read.
	Next uint64
	// More says the page was cut short by its size bound.
	More    bool
	Entries []StatusEntry
}

// StatusOwner returns the cluster that owns a status key: its second path
// element, or "" when it has none.
func StatusOwner(key string) string {
	_, rest, ok := strings.Cut(key, "/")
	if !ok {
		return ""
	}
	owner, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return owner
}

// stamp is the fixed part kept per key: clock, seq, flags.
type stamp struct {
	clock   HLC
	seq     uint64
	removed bool
}

const stampSize = 8 + 8 + 1

func (s stamp) bytes() []byte {
	b := make([]byte, 0, stampSize)
	b = binary.BigEndian.AppendUint64(b, uint64(s.clock))
	b = binary.BigEndian.AppendUint64(b, s.seq)
	if s.removed {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeStamp(b []byte) (stamp, bool) {
	if len(b) != stampSize || b[16] > 1 {
		return stamp{}, false
	}
	return stamp{HLC(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint64(b[8:]), b[16] == 1}, true
}

// PutStatus writes status entries (key → value; a nil or empty value
// removes the entry) in one transaction. The entries take this store's
// next status clock and are shipped to peers by StatusSince.
func (s *Store) PutStatus(ctx context.Context, entries map[string][]byte) error {
	if err := checkStatusEntries(entries); err != nil {
		return err
	}
	return s.do(ctx, func(tx *bolt.Tx, st *txState) error {
		return st.putStatus(tx, entries, hlcFromTime(s.cfg.Now()))
	})
}

func checkStatusEntries(entries map[string][]byte) error {
	for k, v := range entries {
		if k == "" || len(k) > maxKeyLen || len(v) > maxValueLen {
			return fmt.Errorf("%w: status entry %q: key must be 1-%d bytes and value at most %d", ErrInvalid, k, maxKeyLen, maxValueLen)
		}
	}
	return nil
}

// statusTx is the status part of one write transaction.
type statusTx struct {
	data, stamps, index, meta *bolt.Bucket
	seq                       uint64
}

func openStatusTx(tx *bolt.Tx) (*statusTx, error) {
	stamps, err := tx.CreateBucketIfNotExists(bStatusStamps)
	if err != nil {
		return nil, err
	}
	index, err := tx.CreateBucketIfNotExists(bStatusSeq)
	if err != nil {
		return nil, err
	}
	t := &statusTx{data: tx.Bucket(bStatus), stamps: stamps, index: index, meta: tx.Bucket(bMeta)}
	stamped := t.meta.Get(kStatusSeq) != nil
	t.seq = getU64(t.meta.Get(kStatusSeq))
	if !stamped {
		// Entries written before status was stamped: give each a stamp
		// (clock 0, older than any write) so they ship like the others.
		c := t.data.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if err := t.set(string(k), stamp{}); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// set gives key a new local sequence number and the stamp st.
func (t *statusTx) set(key string, st stamp) error {
	if old, ok := decodeStamp(t.stamps.Get([]byte(key))); ok && old.seq != 0 {
		if err := t.index.Delete(u64(old.seq)); err != nil {
			return err
		}
	}
	t.seq++
	st.seq = t.seq
	if err := t.index.Put(u64(st.seq), []byte(key)); err != nil {
		return err
	}
	return t.stamps.Put([]byte(key), st.bytes())
}

func (t *statusTx) close() error { return t.meta.Put(kStatusSeq, u64(t.seq)) }

// store writes the value (nil removes it) and the stamp of one entry.
func (t *statusTx) store(key string, value []byte, clock HLC) error {
	var err error
	if len(value) == 0 {
		err = t.data.Delete([]byte(key))
	} else {
		err = t.data.Put([]byte(key), value)
	}
	if err != nil {
		return err
	}
	return t.set(key, stamp{clock: clock, removed: len(value) == 0})
}

// putStatus applies this replica's own status writes. proposed is the
// writer's time (0 for ops of older versions, which carry none); the
// clock is max(last+1, proposed), so it grows on every node the same way.
func (st *txState) putStatus(tx *bolt.Tx, entries map[string][]byte, proposed HLC) error {
	if len(entries) == 0 {
		return nil
	}
	t, err := openStatusTx(tx)
	if err != nil {
		return err
	}
	clock := max(HLC(getU64(t.meta.Get(kStatusClock)))+1, proposed)
	if err := t.meta.Put(kStatusClock, u64(uint64(clock))); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(entries)) { // the same numbers on every node
		v := entries[k]
		if len(v) == 0 && t.data.Get([]byte(k)) == nil {
			if old, ok := decodeStamp(t.stamps.Get([]byte(k))); !ok || old.removed {
				continue // removing what is not there: nothing to tell anyone
			}
		}
		if err := t.store(k, v, clock); err != nil {
			return err
		}
	}
	return t.close()
}

// MergeStatus stores status entries from another cluster: each only if it
// is newer (a greater clock) than what this store holds for its key, and
// never an entry of this replica's own keys or of a key without an owner.
// It returns how many entries it stored. A malformed entry refuses the
// whole batch.
func (s *Store) MergeStatus(ctx context.Context, entries []StatusEntry) (int, error) {
	if err := CheckStatusEntries(entries); err != nil {
		return 0, err
	}
	var n int
	err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
		var err error
		n, err = st.mergeStatus(tx, entries)
		return err
	})
	return n, err
}

// CheckStatusEntries refuses entries MergeStatus would refuse (an empty or
// too long key, a too large value), naming the first.
func CheckStatusEntries(entries []StatusEntry) error {
	for _, e := range entries {
		if e.Key == "" || len(e.Key) > maxKeyLen || len(e.Value) > maxValueLen {
			return fmt.Errorf("%w: status entry %q: key must be 1-%d bytes and value at most %d", ErrInvalid, e.Key, maxKeyLen, maxValueLen)
		}
	}
	return nil
}

func (st *txState) mergeStatus(tx *bolt.Tx, entries []StatusEntry) (int, error) {
	if err := CheckStatusEntries(entries); err != nil {
		return 0, errRefused{err}
	}
	if len(entries) == 0 {
		return 0, nil
	}
	t, err := openStatusTx(tx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if owner := StatusOwner(e.Key); owner == "" || owner == st.s.replica {
			continue
		}
		if old, ok := decodeStamp(t.stamps.Get([]byte(e.Key))); ok && old.clock >= e.Clock {
			continue // what we hold is as new or newer (a duplicate, or late)
		}
		if err := t.store(e.Key, e.Value, e.Clock); err != nil {
			return 0, err
		}
		n++
	}
	return n, t.close()
}

// StatusSince returns the status entries whose local sequence number is
// above after, in that order, removals included, at most about maxBytes of
// them (at least one), with this store's epoch and head. Only entries with
// an owner that want accepts are returned (want nil accepts every owner);
// Next moves past the others too.
func (s *Store) StatusSince(after uint64, want func(owner string) bool, maxBytes int) (*StatusPage, error) {
	p := &StatusPage{Epoch: s.Incarnation(), Next: after}
	err := s.View(func(sn *Snapshot) error {
		tx := sn.tx
		p.Head = getU64(tx.Bucket(bMeta).Get(kStatusSeq))
		if after > p.Head {
			after, p.Next = 0, 0 // the caller saw another life of this store
		}
		index, stamps := tx.Bucket(bStatusSeq), tx.Bucket(bStatusStamps)
		if index == nil || stamps == nil {
			return nil
		}
		data := tx.Bucket(bStatus)
		size := 0
		c := index.Cursor()
		for k, key := c.Seek(u64(after + 1)); k != nil; k, key = c.Next() {
			if size >= maxBytes && len(p.Entries) > 0 {
				p.More = true
				return nil
			}
			seq := getU64(k)
			p.Next = seq
			owner := StatusOwner(string(key))
			if owner == "" || want != nil && !want(owner) {
				continue
			}
			stp, ok := decodeStamp(stamps.Get(key))
			if !ok || stp.seq != seq {
				return fmt.Errorf("%w: status entry %q: index and stamp disagree (run 'pbxtopo store check')", ErrCorrupt, key)
			}
			e := StatusEntry{Key: string(key), Clock: stp.clock, Seq: seq}
			if v := data.Get(key); v != nil && !stp.removed {
				e.Value = bytes.Clone(v)
			}
			p.Entries = append(p.Entries, e)
			size += len(key) + len(e.Value) + 16
		}
		return nil
	})
	return p, err
}

// Status calls fn for every status entry whose key starts with prefix.
func (sn *Snapshot) Status(prefix string, fn func(key string, value []byte) error) error {
	c := sn.tx.Bucket(bStatus).Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(string(k), v); err != nil {
			return err
		}
	}
	return nil
}

// checkStatus verifies the status index: every stamped entry is indexed
// under its sequence number and nothing else is, no number is above the
// head, a live entry has a stamp once status was stamped, and a removal
// marker has no value.
func checkStatus(tx *bolt.Tx) error {
	stamps, index := tx.Bucket(bStatusStamps), tx.Bucket(bStatusSeq)
	if stamps == nil || index == nil {
		return nil
	}
	head := getU64(tx.Bucket(bMeta).Get(kStatusSeq))
	data := tx.Bucket(bStatus)
	n := 0
	err := stamps.ForEach(func(k, v []byte) error {
		st, ok := decodeStamp(v)
		switch {
		case !ok:
			return fmt.Errorf("status entry %q: bad stamp", k)
		case st.seq == 0 || st.seq > head:
			return fmt.Errorf("status entry %q: seq %d outside 1..%d", k, st.seq, head)
		case !bytes.Equal(index.Get(u64(st.seq)), k):
			return fmt.Errorf("status entry %q: seq %d not indexed to it", k, st.seq)
		case st.removed && data.Get(k) != nil:
			return fmt.Errorf("status entry %q: removed but has a value", k)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if m := index.Stats().KeyN; m != n {
		return fmt.Errorf("status index holds %d numbers for %d stamped entries", m, n)
	}
	return data.ForEach(func(k, _ []byte) error {
		if stamps.Get(k) == nil {
			return fmt.Errorf("status entry %q has no stamp", k)
		}
		return nil
	})
}

// AppendStatusEntries appends the binary form of status entries (key,
// value or removal, clock; not Seq): what a status op and a status page
// on the wire hold.
func AppendStatusEntries(b []byte, entries []StatusEntry) []byte {
	e := newEncoder(b)
	e.statusEntries(entries)
	return e.B
}

// DecodeStatusEntries parses entries made by AppendStatusEntries. Any input
// gives entries or an error wrapping ErrCorrupt.
func DecodeStatusEntries(b []byte) ([]StatusEntry, error) {
	d := newDecoder(b)
	entries := d.statusEntries()
	return entries, d.Done()
}

func (e *encoder) statusEntries(entries []StatusEntry) {
	e.Uvarint(uint64(len(entries)))
	for _, s := range entries {
		e.String(s.Key)
		if len(s.Value) == 0 {
			e.Byte(1)
		} else {
			e.Byte(0)
			e.Bytes(s.Value)
		}
		e.Uvarint(uint64(s.Clock))
	}
}

func (d *decoder) statusEntries() []StatusEntry {
	n := d.Count(1<<24, "status entries")
	if n == 0 {
		return nil
	}
	out := make([]StatusEntry, 0, n)
	for i := 0; i < n && d.Err == nil; i++ {
		s := StatusEntry{Key: d.String(maxKeyLen, "status key")}
		if d.Err == nil && s.Key == "" {
			d.Fail("empty status key")
		}
		switch flags := d.Byte(); {
		case d.Err != nil:
		case flags == 0:
			if s.Value = d.owned(maxValueLen, "status value"); d.Err == nil && s.Value == nil {
				d.Fail("status entry %q: empty value (a removal is flagged)", s.Key)
			}
		case flags != 1:
			d.Fail("status entry %q: unknown flags %d", s.Key, flags)
		}
		s.Clock = HLC(d.Uvarint())
		out = append(out, s)
	}
	return out
}
