package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// setSchema rewrites a closed store's schema number: a fixture of a store
// written by an older (or newer) pbxtopo.
func setSchema(t *testing.T, path string, v int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		m.DeleteBucket(kMigrations)
		return m.Put(kSchema, u64(uint64(v)))
	}); err != nil {
		t.Fatal(err)
	}
}

func schemaOf(t *testing.T, s *Store) (v int, migrated []int) {
	t.Helper()
	s.View(func(sn *Snapshot) error {
		m := sn.tx.Bucket(bMeta)
		v = int(getU64(m.Get(kSchema)))
		if b := m.Bucket(kMigrations); b != nil {
			b.ForEach(func(k, _ []byte) error { migrated = append(migrated, int(getU64(k))); return nil })
		}
		return nil
	})
	return v, migrated
}

// TestOpenMigratesAnOlderStore opens a store written at the previous
// schema: Open runs every step up to SchemaVersion and records them; the
// data is intact.
func TestOpenMigratesAnOlderStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	cfg := DefaultConfig(path)
	cfg.Replica = "tpa1"
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "tpa1/6001", "name", "old")
	s.Close()
	setSchema(t, path, SchemaVersion-1)

	ro := cfg
	ro.ReadOnly = true
	if _, err := Open(ro); err == nil || !strings.Contains(err.Error(), "to migrate it") {
		t.Fatalf("a read-only open of an older store: %v", err)
	}
	s = newTestStore(t, "tpa1", func(c *Config) { c.Path = path })
	v, migrated := schemaOf(t, s)
	if v != SchemaVersion || len(migrated) != 1 || migrated[0] != SchemaVersion {
		t.Fatalf("schema %d, migrations %v", v, migrated)
	}
	if get(t, s, "tpa1/6001") == nil {
		t.Fatal("the migration lost a record")
	}
}

func TestOpenRefusesANewerStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	cfg := DefaultConfig(path)
	cfg.Replica = "tpa1"
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	setSchema(t, path, SchemaVersion+1)
	if _, err := Open(cfg); !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "run the newer pbxtopo") {
		t.Fatalf("open of a newer store: %v", err)
	}
}

// TestMigrateSteps runs made-up steps: in order, each once, only those
// needed, and a failing step leaves the store as it was.
func TestMigrateSteps(t *testing.T) {
	var ran []string
	step := func(from int, fail bool) migration {
		return migration{From: from, Name: fmt.Sprint("step", from), Run: func(tx *bolt.Tx, _ time.Time) error {
			ran = append(ran, fmt.Sprint(from))
			if fail {
				return errors.New("boom")
			}
			b, err := tx.CreateBucketIfNotExists([]byte(fmt.Sprint("m", from)))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		}}
	}
	cases := []struct {
		name    string
		from    int
		steps   []migration
		target  int
		wantRan string
		wantErr string
	}{
		{"all", 1, []migration{step(1, false), step(2, false), step(3, false)}, 4, "1,2,3", ""},
		{"only needed", 2, []migration{step(1, false), step(2, false), step(3, false)}, 4, "2,3", ""},
		{"up to date", 4, []migration{step(1, false), step(2, false), step(3, false)}, 4, "", ""},
		{"failing step", 1, []migration{step(1, false), step(2, true)}, 3, "1,2", "(step2): boom"},
		{"missing step", 1, []migration{step(1, false)}, 3, "1", "no migration from schema 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ran = nil
			db, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.Update(func(tx *bolt.Tx) error {
				m, _ := tx.CreateBucket(bMeta)
				return m.Put(kSchema, u64(uint64(c.from)))
			})
			err = db.Update(func(tx *bolt.Tx) error {
				_, err := migrate(tx, c.steps, c.target, time.Now())
				return err
			})
			if got := strings.Join(ran, ","); got != c.wantRan {
				t.Fatalf("ran %q, want %q", got, c.wantRan)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			db.View(func(tx *bolt.Tx) error {
				v := int(getU64(tx.Bucket(bMeta).Get(kSchema)))
				switch {
				case err != nil && (v != c.from || tx.Bucket([]byte("m1")) != nil):
					t.Fatalf("a failed migration left schema %d and its steps' writes", v)
				case err == nil && v != c.target:
					t.Fatalf("schema %d after migrating, want %d", v, c.target)
				}
				return nil
			})
		})
	}
}
