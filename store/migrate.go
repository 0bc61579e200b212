package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A migration moves a store from schema From to From+1. Open runs the
// ones a store needs, in order, inside the transaction that opens it: a
// crash leaves the store at its old schema, never half migrated.
type migration struct {
	From int
	Name string
	Run  func(tx *bolt.Tx, now time.Time) error
}

// migrations is every schema step, in order; SchemaVersion is one past
// the last From. Add a step by appending it and raising SchemaVersion.
var migrations = []migration{
	{From: 1, Name: "record each migration in meta/migrations", Run: func(tx *bolt.Tx, now time.Time) error {
		return nil // the step itself is the record that migrate writes
	}},
	{From: 2, Name: "field-level merge: records and changes of format 2", Run: func(tx *bolt.Tx, now time.Time) error {
		// Nothing is rewritten: a format-1 record reads as a record whose
		// versions set every field, and takes format 2 when it next
		// changes. The step keeps an older pbxtopo away from a store that
		// now holds format-2 records and changes. Only the records of the
		// conflict index may now read differently (two versions that
		// agree are no conflict, two deletions are a tombstone): Open
		// checks those once the keys that open their values are known.
		if _, err := tx.CreateBucketIfNotExists(bGraphs); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(kReindex, []byte{1})
	}},
}

// kReindex marks a store whose conflict index needs checking (schema 3).
var kReindex = []byte("reindex_conflicts")

// reindexConflicts recomputes the conflict and tombstone index entries of
// the records the conflict index names: a store of schema 2 counted every
// record with two versions. It reads no more than those records.
func (s *Store) reindexConflicts() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if m.Get(kReindex) == nil {
			return nil
		}
		conflicts := tx.Bucket(bConflicts)
		var keys [][]byte
		conflicts.ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil })
		for _, k := range keys {
			table, key := splitIndexKey(k)
			b, _ := tableBucket(tx, table, false)
			r, err := s.loadRecord(b, table, key)
			if err != nil || r == nil {
				return err
			}
			if err := setIndex(conflicts, k, r.Conflict()); err != nil {
				return err
			}
			if err := setIndex(tx.Bucket(bTombs), k, tombstone(r)); err != nil {
				return err
			}
		}
		if len(keys) > 0 {
			s.log.Info("store: conflict index checked for field-level merge", "records", len(keys))
		}
		return m.Delete(kReindex)
	})
}

// kMigrations holds, per schema reached by a migration, when (unix ms).
var kMigrations = []byte("migrations")

// migrate runs the steps of steps that take the store in tx from its
// schema up to target, recording each in meta/migrations. A store at or
// above target is left alone (load refuses a newer one).
func migrate(tx *bolt.Tx, steps []migration, target int, now time.Time) (from int, err error) {
	m := tx.Bucket(bMeta)
	from = int(getU64(m.Get(kSchema)))
	v := from
	for _, step := range steps {
		if step.From != v || v >= target {
			continue
		}
		if err := step.Run(tx, now); err != nil {
			return from, fmt.Errorf("migrate schema %d to %d (%s): %w", v, v+1, step.Name, err)
		}
		v++
		rec, err := m.CreateBucketIfNotExists(kMigrations)
		if err != nil {
			return from, err
		}
		if err := rec.Put(u64(uint64(v)), u64(uint64(now.UnixMilli()))); err != nil {
			return from, err
		}
		if err := m.Put(kSchema, u64(uint64(v))); err != nil {
			return from, err
		}
	}
	if v < target {
		return from, fmt.Errorf("no migration from schema %d: this store cannot be upgraded by this pbxtopo; restore a backup or upgrade through an older release first", v)
	}
	return from, nil
}
