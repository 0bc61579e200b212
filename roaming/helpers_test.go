package roaming

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// sampleStore returns a store holding testdata/enterprise, the guide's
// example enterprise, imported the way pbxtopo import does it.
func sampleStore(t testing.TB) *store.Store {
	t.Helper()
	st := testutil.Store(t, "tpa1")
	for _, name := range pbx.TableNames() {
		importFile(t, st, filepath.Join("..", "testdata", "enterprise", name+".csv"))
	}
	return st
}

func importFile(t testing.TB, st *store.Store, path string) {
	t.Helper()
	tbl, err := pbx.LookupTable(filepath.Base(path[:len(path)-len(filepath.Ext(path))]))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []pbx.Row
	if err := pbx.ReadFile(f, path, tbl, func(r pbx.Row) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	var recs []pbx.Fields
	err = st.View(func(sn *store.Snapshot) error {
		recs, err = pbx.PrepareRows(tbl, path, rows, sn.Catalog())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, tbl, recs...)
}

// put writes records (validated) to the store.
func put(t testing.TB, st *store.Store, tbl *pbx.Table, recs ...pbx.Fields) {
	t.Helper()
	muts := make([]store.Mutation, len(recs))
	for i, r := range recs {
		muts[i] = store.Mutation{Table: tbl.Name, Key: tbl.KeyOf(r), Value: r.AppendBinary(nil)}
	}
	if _, err := st.Write(context.Background(), "test", muts); err != nil {
		t.Fatal(err)
	}
}

// change merges fields into a stored record.
func change(t testing.TB, st *store.Store, tbl *pbx.Table, key string, set pbx.Fields) {
	t.Helper()
	f, ok, err := st.Get(tbl.Name, key)
	if err != nil || !ok {
		t.Fatalf("%s/%s: %v %v", tbl.Name, key, ok, err)
	}
	for k, v := range set {
		f[k] = v
	}
	put(t, st, tbl, f.Compact())
}

func load(t testing.TB, st *store.Store) *Enterprise {
	t.Helper()
	var e *Enterprise
	err := st.View(func(sn *store.Snapshot) error {
		var err error
		e, err = Load(sn, DefaultConfig().Policy)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
