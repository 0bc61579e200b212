package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	bolt "go.etcd.io/bbolt"
)

// Snapshot is a consistent, read-only view of the store: everything read
// through one Snapshot comes from the same committed state.
type Snapshot struct {
	tx *bolt.Tx
	s  *Store
}

// View calls fn with a consistent snapshot. The snapshot is valid only
// inside fn; keep it short, since a long read holds back file growth.
func (s *Store) View(fn func(*Snapshot) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Snapshot{tx, s}) })
}

// Get returns a record with all its versions, or nil when it is absent.
func (sn *Snapshot) Get(table, key string) (*Record, error) {
	b, _ := tableBucket(sn.tx, table, false)
	return sn.s.loadRecord(b, table, key)
}

// GetFields returns a live record's fields as it shows them (its
// versions merged field by field), decoded.
func (sn *Snapshot) GetFields(table, key string) (pbx.Fields, bool, error) {
	r, err := sn.Get(table, key)
	if err != nil || r == nil || !r.Exists() {
		return nil, false, err
	}
	f, err := pbx.DecodeFields(r.Value())
	if err != nil {
		return nil, false, fmt.Errorf("store: %s/%s: %w", table, key, err)
	}
	return f, true, nil
}

// Values calls fn, for each key in turn that is a live record, with the
// encoded value it shows, as Scan gives it, without decoding its versions
// (a listing's page reads its records this way). The value is only valid
// during the call.
func (sn *Snapshot) Values(table string, keys []string, fn func(key string, value []byte) error) error {
	b, _ := tableBucket(sn.tx, table, false)
	if b == nil {
		return nil
	}
	// One cursor for every key: Bucket.Get makes a cursor per call and
	// grows its stack anew (a few allocations per key). A page in key
	// order asks for keys that follow each other: the cursor's next key
	// is tried before a search from the root.
	c := b.Cursor()
	var k, v []byte
	for i, key := range keys {
		if i > 0 && k != nil {
			k, v = c.Next()
		}
		if string(k) != key {
			k, v = c.Seek([]byte(key))
		}
		if string(k) != key { // absent (Seek found the next key)
			continue
		}
		if err := sn.shown(table, key, v, fn); err != nil {
			return err
		}
	}
	return nil
}

// shown calls fn with the value a stored record shows (its winner, opened
// if sealed), unless the record is deleted.
func (sn *Snapshot) shown(table, key string, raw []byte, fn func(key string, value []byte) error) error {
	val, live := recordWinnerValue(raw)
	if !live {
		return nil
	}
	if len(val) > 0 && val[0] == SealedMark {
		var err error
		if val, err = sn.s.openValue(table, key, val); err != nil {
			return err
		}
	}
	return fn(key, val)
}

// Scan calls fn for every live record of a table whose key starts with
// prefix, in key order, with the encoded value it shows. The value is only
// valid during the call. It decodes nothing but what it must, so filters
// over large tables stay fast (see pbx.LookupField).
func (sn *Snapshot) Scan(table, prefix string, fn func(key string, value []byte) error) error {
	b, _ := tableBucket(sn.tx, table, false)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := sn.shown(table, string(k), v, fn); err != nil {
			return err
		}
	}
	return nil
}

// ScanRecords calls fn for every record of a table, deleted ones included,
// with all versions.
func (sn *Snapshot) ScanRecords(table string, fn func(*Record) error) error {
	b, _ := tableBucket(sn.tx, table, false)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		r, err := sn.s.decodeRecord(table, string(k), v)
		if err != nil {
			return fmt.Errorf("store: record %s/%s: %w", table, k, err)
		}
		return fn(r)
	})
}

// Count returns the number of live records of a table.
func (sn *Snapshot) Count(table string) int {
	n := 0
	sn.Scan(table, "", func(string, []byte) error { n++; return nil })
	return n
}

// Tables returns the names of the tables that hold records.
func (sn *Snapshot) Tables() []string {
	var out []string
	sn.tx.Bucket(bTables).ForEachBucket(func(k []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// Summary returns the summary as of the snapshot.
func (sn *Snapshot) Summary() (Summary, error) { return loadSummary(sn.tx.Bucket(bSummary)) }

// Conflicts calls fn for every record in conflict.
func (sn *Snapshot) Conflicts(fn func(*Record) error) error {
	return sn.tx.Bucket(bConflicts).ForEach(func(k, _ []byte) error {
		table, key := splitIndexKey(k)
		r, err := sn.Get(table, key)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("store: conflict index names missing record %s/%s: %w", table, key, ErrCorrupt)
		}
		return fn(r)
	})
}

// HistoryEntry is one change of a record, as applied here.
type HistoryEntry struct {
	LSN     uint64
	Applied time.Time // when this replica applied it
	Change  *Change
}

// History returns every retained change of a record, oldest first.
func (sn *Snapshot) History(table, key string) ([]HistoryEntry, error) {
	r, err := sn.Get(table, key)
	if err != nil || r == nil {
		return nil, err
	}
	var out []HistoryEntry
	for _, lsn := range r.History {
		if sn.tx.Bucket(bLog).Get(u64(lsn)) == nil {
			continue // pruned since the record was last written
		}
		e, err := sn.logEntry(lsn)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Change returns a retained change by its id.
func (sn *Snapshot) Change(d Dot) (HistoryEntry, error) {
	lsn := sn.tx.Bucket(bDots).Get(dotKey(d))
	if lsn == nil {
		s, _ := sn.Summary()
		if s.Covers(d) {
			return HistoryEntry{}, fmt.Errorf("change %s: %w", d, ErrPruned)
		}
		return HistoryEntry{}, fmt.Errorf("change %s: %w", d, ErrNotFound)
	}
	return sn.logEntry(getU64(lsn))
}

func (sn *Snapshot) logEntry(lsn uint64) (HistoryEntry, error) {
	v := sn.tx.Bucket(bLog).Get(u64(lsn))
	if v == nil {
		return HistoryEntry{}, fmt.Errorf("store: log entry %d is missing: %w", lsn, ErrCorrupt)
	}
	ms, c, err := sn.s.decodeLogEntryOpen(v)
	if err != nil {
		return HistoryEntry{}, fmt.Errorf("store: log entry %d: %w", lsn, err)
	}
	return HistoryEntry{LSN: lsn, Applied: time.UnixMilli(ms).UTC(), Change: c}, nil
}

// Digest is the Merkle digest of one table: 256 bucket hashes and a root
// over them. Equal digests mean equal live records (with equal versions).
type Digest struct {
	Table   string
	Root    string
	Buckets [digestBuckets][digestSize]byte
}

// Digests returns the digest of every table that holds records, or only
// of the tables given.
func (sn *Snapshot) Digests(tables ...string) (map[string]Digest, error) {
	if len(tables) == 0 {
		tables = sn.Tables()
	}
	out := make(map[string]Digest, len(tables))
	for _, t := range tables {
		d := Digest{Table: t}
		prefix := append([]byte(t), 0)
		c := sn.tx.Bucket(bDigest).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+1 || len(v) != digestSize {
				return nil, fmt.Errorf("store: digest of %s: %w", t, ErrCorrupt)
			}
			copy(d.Buckets[k[len(prefix)]][:], v)
		}
		d.Root = RootOf(d)
		out[t] = d
	}
	return out, nil
}

// RootOf returns the root hash of a digest's buckets.
func RootOf(d Digest) string {
	h := sha256.New()
	for i := range d.Buckets {
		h.Write(d.Buckets[i][:])
	}
	return hex.EncodeToString(h.Sum(nil)[:digestSize])
}

// DiffBuckets returns the buckets in which two digests of a table differ.
func DiffBuckets(a, b Digest) []int {
	var out []int
	for i := range a.Buckets {
		if a.Buckets[i] != b.Buckets[i] {
			out = append(out, i)
		}
	}
	return out
}

// Catalog returns a pbx.Lister over the snapshot's live records, for
// validation that refers to other records.
func (sn *Snapshot) Catalog() pbx.Lister { return snapshotCatalog{sn} }

type snapshotCatalog struct{ sn *Snapshot }

func (c snapshotCatalog) Get(table, key string) (pbx.Fields, bool) {
	f, ok, err := c.sn.GetFields(table, key)
	return f, ok && err == nil
}

func (c snapshotCatalog) Keys(table string) []string {
	var keys []string
	c.sn.Scan(table, "", func(k string, _ []byte) error { keys = append(keys, k); return nil })
	return keys
}

// Get reads one record's winning value in its own snapshot.
func (s *Store) Get(table, key string) (pbx.Fields, bool, error) {
	var f pbx.Fields
	var ok bool
	err := s.View(func(sn *Snapshot) error {
		var err error
		f, ok, err = sn.GetFields(table, key)
		return err
	})
	return f, ok, err
}

// Local returns an entry of this replica's local key-value space (see
// WriteLocal), or nil.
func (sn *Snapshot) Local(key string) []byte {
	v := sn.tx.Bucket(bLocal).Get([]byte(key))
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}
