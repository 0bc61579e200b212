package service

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestIndexDeepPagesAndDenseMatches checks against the reference scan the
// two shortcuts of large listings: a page deep in an unfiltered listing
// (offset n/2, sorted by key, number or name, either way), which starts
// its walk near the offset by counting the gone and fresh rows, and the
// matches tested row by row (one group or cluster, or the word every row
// has). It checks them after the first build, after writes and deletions
// through the service, and after changes from another replica applied by
// the replication path, each time before and after the index rebuilds.
func TestIndexDeepPagesAndDenseMatches(t *testing.T) {
	svc, st := sampleService(t)
	ctx := context.Background()
	r := rand.New(rand.NewSource(5))
	clusters := []string{"tpa1", "sfo", "lon"}
	groups := []string{"IT", "USSales", "TechSupport", "it"}
	var muts []store.Mutation
	muts = append(muts, store.Mutation{Table: "groups", Key: "it", Value: pbx.Fields{"name": "it"}.AppendBinary(nil)})
	record := func(i int, name string) pbx.Fields {
		return pbx.Fields{"cluster": clusters[i%3], "regexten": fmt.Sprint(20000 + i), "astgroup": groups[r.Intn(len(groups))], "name": name}
	}
	for i := range 3000 {
		f := record(i, fmt.Sprintf("User %d", r.Intn(5000)))
		muts = append(muts, store.Mutation{Table: "extensions", Key: pbx.Extensions.KeyOf(f), Value: f.AppendBinary(nil)})
	}
	if _, err := st.Write(ctx, "test", muts); err != nil {
		t.Fatal(err)
	}
	check := func(round string) {
		t.Helper()
		all := scanRows(t, st)
		n := len(all)
		var qs []Query
		for _, sort := range []string{"", "regexten", "name"} {
			for _, desc := range []bool{false, true} {
				for _, off := range []int{0, 1, 49, 50, n / 3, n / 2, n - 51, n - 1, n, n + 5, r.Intn(n)} {
					qs = append(qs, Query{Sort: sort, Desc: desc, Offset: off, Limit: 50})
				}
				qs = append(qs, Query{Sort: sort, Desc: desc, Offset: n / 2}) // no limit
				for _, f := range []Query{{Group: "IT"}, {Group: "techsupport"}, {Cluster: "sfo"}, {Search: "user"}, {Search: "User"}} {
					f.Sort, f.Desc, f.Limit, f.Offset = sort, desc, 50, []int{0, 30, n / 4}[r.Intn(3)]
					qs = append(qs, f)
				}
			}
		}
		for _, q := range qs {
			got, err := svc.List(ctx, "extensions", q)
			if err != nil {
				t.Fatal(err)
			}
			want := listRows(all, q)
			if got.Total != len(want) {
				t.Fatalf("%s: %+v: total %d, scan finds %d", round, q, got.Total, len(want))
			}
			lo := min(q.Offset, len(want))
			hi := len(want)
			if q.Limit > 0 {
				hi = min(lo+q.Limit, hi)
			}
			var gotKeys []string
			for _, row := range got.Rows {
				gotKeys = append(gotKeys, pbx.Extensions.KeyOf(row))
			}
			if !slices.Equal(gotKeys, want[lo:hi]) {
				t.Fatalf("%s: %+v:\n got %v\nwant %v", round, q, gotKeys, want[lo:hi])
			}
		}
	}
	check("after the first build")

	// Writes and deletions through the service: renamed, moved to
	// another group, deleted, and new rows (some sorting first, some last).
	for i := range 60 {
		k := r.Intn(3000)
		key := pbx.Extensions.KeyOf(record(k, ""))
		var err error
		switch i % 4 {
		case 0:
			_, err = svc.Delete(ctx, "extensions", key, "")
			if errors.Is(err, store.ErrNotFound) {
				err = nil
			}
		case 1:
			_, err = svc.Put(ctx, "extensions", record(k, fmt.Sprintf("User %d", r.Intn(5000))), PutOptions{})
		case 2:
			_, err = svc.Put(ctx, "extensions", record(k, "Aaron First"), PutOptions{})
		default:
			_, err = svc.Put(ctx, "extensions", pbx.Fields{"cluster": "lon", "regexten": fmt.Sprint([]int{1, 99999}[i%2] + i), "astgroup": "IT", "name": "Zed User"}, PutOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	check("after writes through the service")

	// Changes made at another replica, applied by the replication path.
	lon := testutil.Store(t, "lon")
	testutil.PullAll(t, lon, st)
	lonSvc := NewService(lon)
	for i := range 40 {
		k := r.Intn(3000)
		var err error
		if i%2 == 0 {
			_, err = lonSvc.Delete(ctx, "extensions", pbx.Extensions.KeyOf(record(k, "")), "")
			if errors.Is(err, store.ErrNotFound) {
				err = nil
			}
		} else {
			_, err = lonSvc.Put(ctx, "extensions", record(k, fmt.Sprintf("User %d", r.Intn(5000))), PutOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	testutil.PullAll(t, st, lon)
	check("after changes applied from another replica")

	// Enough writes to pass the fresh limit: the index rebuilds, then
	// takes more changes on the new base.
	muts = nil
	for i := range freshLimit(3000) + 10 {
		f := record(3000+i, fmt.Sprintf("User %d", i))
		muts = append(muts, store.Mutation{Table: "extensions", Key: pbx.Extensions.KeyOf(f), Value: f.AppendBinary(nil)})
	}
	if _, err := st.Write(ctx, "test", muts); err != nil {
		t.Fatal(err)
	}
	check("after a rebuild")
	for i := range 30 {
		if _, err := svc.Delete(ctx, "extensions", pbx.Extensions.KeyOf(record(3000+i*7, "")), ""); err != nil {
			t.Fatal(err)
		}
	}
	check("after deletions on the rebuilt base")
}
