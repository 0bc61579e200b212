package service

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestIndexMatchesScan checks listings from the extension index against
// a plain scan of the store with the same rules, for random queries,
// before and after random writes and deletions (rows changed since the
// last rebuild are searched from the fresh set).
func TestIndexMatchesScan(t *testing.T) {
	svc, st := sampleService(t)
	ctx := context.Background()
	r := rand.New(rand.NewSource(7))
	words := []string{"", "a", "al", "george", "geo lop", "61", "6109", "5", "sales", "x y", "smith", "dan"}
	groups := []string{"", "IT", "USSales", "Support", "nosuch"}
	clusters := []string{"", "tpa1", "sfo", "lon"}
	sorts := []string{"", "name", "regexten", "astgroup", "cluster"}
	check := func(round string) {
		t.Helper()
		for i := 0; i < 300; i++ {
			q := Query{Search: words[r.Intn(len(words))], Group: groups[r.Intn(len(groups))], Cluster: clusters[r.Intn(len(clusters))],
				Sort: sorts[r.Intn(len(sorts))], Desc: r.Intn(2) == 0, Offset: r.Intn(3) * 5, Limit: r.Intn(3) * 10}
			got, err := svc.List(ctx, "extensions", q)
			if err != nil {
				t.Fatal(err)
			}
			want := scanList(t, st, q)
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
				gotKeys = append(gotKeys, row["cluster"]+"/"+row["regexten"])
			}
			if !slices.Equal(gotKeys, want[lo:hi]) {
				t.Fatalf("%s: %+v:\n got %v\nwant %v", round, q, gotKeys, want[lo:hi])
			}
		}
	}
	check("after import")
	page, _ := svc.List(ctx, "extensions", Query{})
	deleted := map[string]bool{}
	for i := 0; i < 40; i++ {
		row := page.Rows[r.Intn(len(page.Rows))]
		key := row["cluster"] + "/" + row["regexten"]
		if deleted[key] {
			continue
		}
		switch i % 3 {
		case 0:
			if _, err := svc.Delete(ctx, "extensions", key, ""); err != nil {
				t.Fatal(err)
			}
			deleted[key] = true
		case 1:
			if _, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": row["cluster"], "regexten": row["regexten"],
				"name": fmt.Sprintf("Renamed Smith %d", i), "astgroup": "IT"}, PutOptions{}); err != nil {
				t.Fatal(err)
			}
		default:
			if _, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": "lon", "regexten": fmt.Sprint(7700 + i),
				"name": fmt.Sprintf("George New %d", i), "astgroup": "Support"}, PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("after writes")
}

// scanList is the reference: every extension, the same filters and word
// rule, sorted the same way; it returns the keys.
func scanList(t *testing.T, st *store.Store, q Query) []string {
	t.Helper()
	query := searchWords(q.Search)
	var rows []*idxRow
	err := st.View(func(sn *store.Snapshot) error {
		return sn.Scan(pbx.Extensions.Name, "", func(key string, v []byte) error {
			r := newIdxRow(key, v)
			if q.Cluster != "" && !strings.EqualFold(r.cluster, q.Cluster) || q.Group != "" && !strings.EqualFold(r.group, q.Group) {
				return nil
			}
			if r.matches(query) {
				rows = append(rows, r)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]func(*idxRow) string{
		"": func(r *idxRow) string { return r.key }, "regexten": func(r *idxRow) string { return r.num },
		"name": func(r *idxRow) string { return r.name }, "astgroup": func(r *idxRow) string { return r.group },
		"cluster": func(r *idxRow) string { return r.cluster }, "site": func(r *idxRow) string { return r.site },
	}[q.Sort]
	slices.SortFunc(rows, func(a, b *idxRow) int {
		if ka, kb := col(a), col(b); ka != kb {
			return cmpNatural(ka, kb, q.Desc)
		}
		return cmpNatural(a.key, b.key, q.Desc)
	})
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.key)
	}
	return keys
}

// cmpNatural orders by naturalLess, the rule of unindexed listings.
func cmpNatural(a, b string, desc bool) int {
	c := 0
	switch {
	case naturalLess(a, b):
		c = -1
	case naturalLess(b, a):
		c = 1
	}
	if desc {
		c = -c
	}
	return c
}
