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

// TestOpenAStoreOfThePreviousRelease builds a store as the previous
// release left it (schema 2, records and log entries of format 1, every
// record with two versions in the conflict index), opens it and reads it
// field by field: versions that differ in one field are a conflict of that
// field, versions that agree are none, two deletions are a tombstone; the
// history reads, new writes merge by field, and the store is consistent.
func TestOpenAStoreOfThePreviousRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	first, err := Open(func() Config { c := DefaultConfig(path); c.Replica = "tpa1"; return c }())
	if err != nil {
		t.Fatal(err)
	}
	s := first
	addCluster(t, s)
	lon := Stream("lon.0000000000000002")
	base := func(key string) Dot {
		return put(t, s, key, "cluster", "tpa1", "regexten", key[5:], "name", "Ken", "callgroup", "1")
	}
	remote := func(seq uint64, key string, ctx Dot, kv ...string) *Change {
		c := &Change{Dot: Dot{lon, seq}, TxSeq: seq, TxSize: 1, Table: "extensions", Key: key, Context: []Dot{ctx}, HLC: HLC(seq), Author: "bob"}
		if kv == nil {
			c.Deleted = true
		} else {
			c.Value = val(kv...)
		}
		return c
	}
	k1, k2, k3 := base("tpa1/6101"), base("tpa1/6102"), base("tpa1/6103")
	// Local whole-record writes, as the previous release made them (no Set).
	for _, w := range []struct {
		key string
		ctx Dot
		val []byte
	}{{"tpa1/6101", k1, val("cluster", "tpa1", "regexten", "6101", "name", "Ken", "callgroup", "2")},
		{"tpa1/6102", k2, val("cluster", "tpa1", "regexten", "6102", "name", "Ken", "callgroup", "7")},
		{"tpa1/6103", k3, nil}} {
		if _, err := s.Write(bg, "alice", []Mutation{{Table: "extensions", Key: w.key, Value: w.val, IfMatch: []Dot{w.ctx}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Apply(bg, []*Change{
		remote(1, "tpa1/6101", k1, "cluster", "tpa1", "regexten", "6101", "name", "Ken", "callgroup", "3"),
		remote(2, "tpa1/6102", k2, "cluster", "tpa1", "regexten", "6102", "name", "Ken", "callgroup", "7"),
		remote(3, "tpa1/6103", k3),
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	toPreviousRelease(t, path)

	s = newTestStore(t, "tpa1", func(c *Config) { c.Path = path })
	if cs := get(t, s, "tpa1/6101").Conflicts(); len(cs) != 1 || cs[0].Unit != "callgroup" {
		t.Fatalf("6101: %+v", cs)
	}
	if r := get(t, s, "tpa1/6102"); r.Conflict() || fields(t, r)["callgroup"] != "7" {
		t.Fatalf("6102, two versions that agree: %+v", r.Conflicts())
	}
	if r := get(t, s, "tpa1/6103"); r.Conflict() || r.Exists() {
		t.Fatalf("6103, two deletions: %+v", r.Conflicts())
	}
	n := 0
	s.View(func(sn *Snapshot) error { return sn.Conflicts(func(*Record) error { n++; return nil }) })
	if n != 1 {
		t.Fatalf("%d records in the conflict index, want 1", n)
	}
	var hist []HistoryEntry
	s.View(func(sn *Snapshot) error {
		var err error
		hist, err = sn.History("extensions", "tpa1/6101")
		return err
	})
	if len(hist) != 3 || hist[2].Change.Set != nil {
		t.Fatalf("history of 6101: %d entries", len(hist))
	}
	if _, err := patch(s, "tpa1/6101", Mutation{}, "name", "Kenneth"); err != nil {
		t.Fatal(err)
	}
	if r := get(t, s, "tpa1/6101"); len(r.Conflicts()) != 1 || fields(t, r)["name"] != "Kenneth" {
		t.Fatalf("after a new write: %+v %v", r.Conflicts(), fields(t, r))
	}
}

// toPreviousRelease rewrites a closed store as the previous release kept
// it: schema 2, records of format 1 without graphs, every record with two
// versions in the conflict index, no graph index.
func toPreviousRelease(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		tables := tx.Bucket(bTables)
		err := tables.ForEachBucket(func(name []byte) error {
			b := tables.Bucket(name)
			return b.ForEach(func(k, v []byte) error {
				r, err := DecodeRecord(string(name), string(k), v)
				if err != nil {
					return err
				}
				r.Graph = nil
				ik := indexKey(string(name), string(k))
				if len(r.Versions) > 1 {
					tx.Bucket(bConflicts).Put(ik, []byte{1})
				}
				if len(r.Versions) != 1 || !r.Versions[0].Deleted {
					tx.Bucket(bTombs).Delete(ik)
				}
				return b.Put(k, appendRecord(nil, r, nil))
			})
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bGraphs); err != nil {
			return err
		}
		m := tx.Bucket(bMeta)
		m.DeleteBucket(kMigrations)
		return m.Put(kSchema, u64(2))
	})
	if err != nil {
		t.Fatal(err)
	}
}
