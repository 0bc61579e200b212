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
		// now holds format-2 records and changes.
		_, err := tx.CreateBucketIfNotExists(bGraphs)
		return err
	}},
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
