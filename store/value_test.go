package store_test

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestValuesShowWhatGetShows checks Snapshot.Values, the version-free read
// of a listing's page, against Get: a live record, a deleted one, a
// missing one, a record in conflict (two concurrent versions, the shown
// value merged), and the same in a store that seals secrets.
func TestValuesShowWhatGetShows(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		open := func(replica string) *store.Store {
			cfg := store.DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
			cfg.Replica = replica
			if sealed {
				k, _ := secrets.NewKey()
				kr, err := secrets.New(k)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Sealer = kr
			}
			st, err := store.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		ctx := context.Background()
		a, b := open("tpa1"), open("lon")
		put := func(st *store.Store, key string, f pbx.Fields) {
			var v []byte
			if f != nil {
				v = f.AppendBinary(nil)
			}
			if _, err := st.Write(ctx, "test", []store.Mutation{{Table: "extensions", Key: key, Value: v}}); err != nil {
				t.Fatal(err)
			}
		}
		put(a, "tpa1/6101", pbx.Fields{"cluster": "tpa1", "regexten": "6101", "name": "Ann", "secret": "s3cret-6101-abc"})
		put(a, "tpa1/6102", pbx.Fields{"cluster": "tpa1", "regexten": "6102", "name": "Bob"})
		put(a, "tpa1/6102", nil)
		// A conflict: both replicas change 6103 without seeing the other.
		put(a, "tpa1/6103", pbx.Fields{"cluster": "tpa1", "regexten": "6103", "name": "Cy"})
		testutil.PullAll(t, b, a)
		put(a, "tpa1/6103", pbx.Fields{"cluster": "tpa1", "regexten": "6103", "name": "Cy", "fullcontact": "from tpa1"})
		put(b, "tpa1/6103", pbx.Fields{"cluster": "tpa1", "regexten": "6103", "name": "Cy", "mailbox": "6103"})
		testutil.PullAll(t, a, b)
		err := a.View(func(sn *store.Snapshot) error {
			for _, key := range []string{"tpa1/6101", "tpa1/6102", "tpa1/6103", "tpa1/6199"} {
				r, err := sn.Get("extensions", key)
				if err != nil {
					return err
				}
				var v []byte
				ok := false
				if err := sn.Values("extensions", []string{key}, func(k string, val []byte) error {
					v, ok = bytes.Clone(val), k == key
					return nil
				}); err != nil {
					return err
				}
				live := r != nil && r.Exists()
				if ok != live {
					t.Errorf("sealed %v: %s: Values says live %v, Get %v", sealed, key, ok, live)
					continue
				}
				if live && !bytes.Equal(v, r.Value()) {
					t.Errorf("sealed %v: %s: Values %q, Get shows %q", sealed, key, v, r.Value())
				}
				if key == "tpa1/6103" && len(r.Versions) < 2 {
					t.Errorf("sealed %v: %s has %d versions: the test wants a conflict", sealed, key, len(r.Versions))
				}
			}
			// Several keys at once, in key order and not, missing and
			// deleted ones among them, one twice: each live one in the
			// order asked, with the value it shows alone.
			keys := []string{"tpa1/6101", "tpa1/6102", "tpa1/6103", "tpa1/6199", "tpa1/6103", "tpa1/6101", "tpa1/6100", "tpa1/6104", "tpa1/6103"}
			var want, got []string
			for _, key := range keys {
				sn.Values("extensions", []string{key}, func(k string, val []byte) error {
					want = append(want, k+"="+string(val))
					return nil
				})
			}
			if err := sn.Values("extensions", keys, func(k string, val []byte) error {
				got = append(got, k+"="+string(val))
				return nil
			}); err != nil {
				return err
			}
			if !slices.Equal(got, want) || len(want) != 5 {
				t.Errorf("sealed %v: Values of %q gives %q, one by one %q", sealed, keys, got, want)
			}
			if err := sn.Values("no_such_table", []string{"x"}, func(string, []byte) error {
				t.Error("a missing table has a record")
				return nil
			}); err != nil {
				t.Errorf("a missing table: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
