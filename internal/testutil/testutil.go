// Package testutil holds the helpers tests of several packages share: a
// store in a temporary directory that is checked for consistency when the
// test ends, the sample enterprise of testdata/enterprise, and polling with
// a deadline instead of sleeping.
package testutil

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Store opens a store of replica in a temporary directory, with cfg's
// changes applied. When the test ends the store must pass store.Check (a
// test that leaves it inconsistent fails), and it is closed.
func Store(t testing.TB, replica string, cfg ...func(*store.Config)) *store.Store {
	t.Helper()
	c := store.DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
	c.Replica = replica
	for _, f := range cfg {
		f(&c)
	}
	st, err := store.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("store %s inconsistent: %v", replica, err)
		}
		st.Close()
	})
	return st
}

// ImportFunc imports one table's file (what pbxtopo import does).
type ImportFunc func(table, source string, r io.Reader) error

// SeedEnterprise imports every table of testdata/enterprise (the guide's
// example enterprise, pbxtopo.SampleEnterprise) through
// importTable, in the order the tables refer to each other.
func SeedEnterprise(t testing.TB, importTable ImportFunc) {
	t.Helper()
	for _, table := range pbx.TableNames() {
		path := "testdata/enterprise/" + table + ".csv"
		fh, err := pbxtopo.SampleEnterprise.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		err = importTable(table, path, fh)
		fh.Close()
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
	}
}

// Eventually polls ok until it holds, and fails the test with what was
// awaited when it does not within the given time.
func Eventually(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
	}
}

// PullAll applies to dst every change src has that dst lacks, as a pull of
// the replicator would, in batches of 1 MiB.
func PullAll(t testing.TB, dst, src *store.Store) {
	t.Helper()
	for {
		b, err := src.ChangesSince(dst.Summary(), func(store.Stream) bool { return true }, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) == 0 {
			return
		}
		if _, err := dst.Apply(context.Background(), b.Changes); err != nil {
			t.Fatal(err)
		}
	}
}
