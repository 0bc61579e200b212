package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies the store's invariants: the bbolt file is consistent,
// every record decodes and keeps its winner first, the conflict, tombstone
// and digest indexes match the records, every version is covered by the
// summary, and the log holds every change from the pruned mark up to the
// summary with its indexes. Tests run it after every test store; `pbxtopo
// store check` runs it on demand. It reads everything, so it is slow on
// large stores.
func (s *Store) Check() error {
	if err := s.checkFile(); err != nil {
		return err
	}
	return s.View(func(sn *Snapshot) error {
		tx := sn.tx
		summary, err := sn.Summary()
		if err != nil {
			return err
		}
		pruned, err := loadSummary(tx.Bucket(bPruned))
		if err != nil {
			return err
		}
		if err := checkRecords(sn, summary); err != nil {
			return err
		}
		if err := checkStatus(tx); err != nil {
			return err
		}
		return checkLog(tx, summary, pruned)
	})
}

// errRollback ends the check's write transaction without a commit.
var errRollback = errors.New("rollback")

// checkFile runs bbolt's own check. In a read transaction it reads the
// free list that a concurrent writer changes (a data race in bbolt), so
// it runs in a write transaction that it rolls back, which excludes
// writers for its duration.
func (s *Store) checkFile() error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	check := func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker goroutine sends them all
			if first == nil {
				first = fmt.Errorf("bbolt: %w", err)
			}
		}
		if first != nil {
			return first
		}
		return errRollback
	}
	var err error
	if s.cfg.ReadOnly {
		err = s.db.View(check)
	} else {
		err = s.db.Update(check)
	}
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

func checkRecords(sn *Snapshot, summary Summary) error {
	tx := sn.tx
	for _, t := range sn.Tables() {
		var digest [digestBuckets][digestSize]byte
		err := sn.ScanRecords(t, func(r *Record) error {
			name := t + "/" + r.Key
			for i, v := range r.Versions {
				if !summary.Covers(v.Dot) {
					return fmt.Errorf("record %s holds version %s beyond the summary", name, v.Dot)
				}
				if i > 0 && !wins(r.Versions[i-1], v) {
					return fmt.Errorf("record %s: versions out of winner order", name)
				}
			}
			for i, lsn := range r.History {
				if i > 0 && lsn <= r.History[i-1] {
					return fmt.Errorf("record %s: history out of order", name)
				}
				if v := tx.Bucket(bLog).Get(u64(lsn)); v != nil {
					if _, c, err := decodeLogEntry(v); err != nil || c.Table != t || c.Key != r.Key {
						return fmt.Errorf("record %s: history names log entry %d of another record", name, lsn)
					}
				}
			}
			ik := indexKey(t, r.Key)
			if (tx.Bucket(bConflicts).Get(ik) != nil) != r.Conflict() {
				return fmt.Errorf("record %s: conflict index disagrees", name)
			}
			if _, err := r.nodes(); err != nil {
				return fmt.Errorf("record %s: graph: %w", name, err)
			}
			if (tx.Bucket(bTombs).Get(ik) != nil) != tombstone(r) {
				return fmt.Errorf("record %s: tombstone index disagrees", name)
			}
			if b := tx.Bucket(bGraphs); b != nil && (b.Get(ik) != nil) != (r.graphLen() > 0) {
				return fmt.Errorf("record %s: graph index disagrees", name)
			}
			xorInto(&digest[digestBucket(r.Key)], recordHash(r))
			return nil
		})
		if err != nil {
			return err
		}
		ds, err := sn.Digests(t)
		if err != nil {
			return err
		}
		if ds[t].Buckets != digest {
			return fmt.Errorf("table %s: stored digest differs from the records", t)
		}
	}
	for _, idx := range [][]byte{bConflicts, bTombs, bGraphs} {
		if tx.Bucket(idx) == nil {
			continue // a read-only store of an older schema
		}
		err := tx.Bucket(idx).ForEach(func(k, _ []byte) error {
			t, key := splitIndexKey(k)
			if r, err := sn.Get(t, key); err != nil || r == nil {
				return fmt.Errorf("index %s names missing record %s/%s", idx, t, key)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func checkLog(tx *bolt.Tx, summary, pruned Summary) error {
	dots := tx.Bucket(bDots)
	for st, seq := range summary {
		for n := pruned[st] + 1; n <= seq; n++ {
			if dots.Get(dotKey(Dot{st, n})) == nil {
				return fmt.Errorf("change %s:%d is in the summary but missing from the log", st, n)
			}
		}
	}
	var last uint64
	err := tx.Bucket(bLog).ForEach(func(k, v []byte) error {
		lsn := getU64(k)
		if last != 0 && lsn != last+1 {
			return fmt.Errorf("log has a gap between %d and %d", last, lsn)
		}
		last = lsn
		_, c, err := decodeLogEntry(v)
		if err != nil {
			return fmt.Errorf("log entry %d: %w", lsn, err)
		}
		if getU64(dots.Get(dotKey(c.Dot))) != lsn {
			return fmt.Errorf("log entry %d (%s) is not in the dots index", lsn, c.Dot)
		}
		if !summary.Covers(c.Dot) {
			return fmt.Errorf("log entry %d (%s) is beyond the summary", lsn, c.Dot)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if meta := getU64(tx.Bucket(bMeta).Get(kLSN)); last != 0 && meta != last {
		return fmt.Errorf("meta lsn %d, last log entry %d", meta, last)
	}
	return nil
}
