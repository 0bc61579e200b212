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
	qs := indexQueries{words: []string{"", "a", "al", "george", "geo lop", "61", "6109", "5", "sales", "x y", "smith", "dan"},
		groups: []string{"", "IT", "USSales", "TechSupport", "hr"}, clusters: []string{"", "tpa1", "sfo", "lon"}}
	qs.check(t, svc, st, r, "after import")
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
				"name": fmt.Sprintf("George New %d", i), "astgroup": "TechSupport"}, PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	qs.check(t, svc, st, r, "after writes")
}

// TestIndexMatchesScanLarge does the same over 4,000 odd records (names
// that are numbers or empty, groups that differ only in case, sites),
// where large matches are walked in a column's order and small ones
// sorted, with writes merged in, deep offsets and descending orders.
func TestIndexMatchesScanLarge(t *testing.T) {
	svc, st := sampleService(t)
	ctx := context.Background()
	r := rand.New(rand.NewSource(11))
	groups := []string{"Sales", "sales", "SALES", "IT", "10", "9", ""}
	clusters := []string{"tpa1", "sfo", "lon", "c10", "c9"}
	names := []string{"Ann", "ann", "Bob Lee", "100", "99", "", "Zoë", "Lee Bob", "b"}
	record := func(i int) (string, []byte) {
		c := clusters[i%len(clusters)]
		num := fmt.Sprint(1000 + i)
		f := pbx.Fields{"cluster": c, "regexten": num, "astgroup": groups[r.Intn(len(groups))], "site": []string{"", "tpa", "SFO"}[r.Intn(3)],
			"name": names[r.Intn(len(names))], "callerid": fmt.Sprintf("%s <%s>", names[r.Intn(len(names))], num)}
		return c + "/" + num, f.AppendBinary(nil)
	}
	// The clusters and groups the filters name exist (a filter by a name
	// that does not is refused).
	var muts []store.Mutation
	for _, c := range []string{"c9", "c10"} {
		muts = append(muts, store.Mutation{Table: "clusters", Key: c, Value: pbx.Fields{"name": c, "site": "tpa", "voice_vip": "192.0.2.9"}.AppendBinary(nil)})
	}
	for _, g := range []string{"Sales", "10"} {
		muts = append(muts, store.Mutation{Table: "groups", Key: g, Value: pbx.Fields{"name": g}.AppendBinary(nil)})
	}
	live := map[string]bool{}
	for i := range 4000 {
		k, v := record(i)
		muts = append(muts, store.Mutation{Table: "extensions", Key: k, Value: v})
		live[k] = true
	}
	if _, err := st.Write(ctx, "test", muts); err != nil {
		t.Fatal(err)
	}
	qs := indexQueries{words: []string{"", "a", "ann", "b", "bob lee", "1", "10", "100", "1234", "zo", "9", "lee 1234", "1234 1", "1234 2", "b 1234", "ann 10"},
		groups: []string{"", "sales", "IT", "10"}, clusters: []string{"", "tpa1", "c9", "C10"}, sites: []string{"", "tpa", "sfo"},
		offsets: []int{0, 7, 300, 2500}}
	qs.check(t, svc, st, r, "after the first build")
	for round := range 3 {
		muts = nil
		for range 150 {
			i := r.Intn(4300) // some new, most replacing
			k, v := record(i)
			if r.Intn(4) == 0 {
				if !live[k] {
					continue
				}
				v = nil
			}
			if !slices.ContainsFunc(muts, func(m store.Mutation) bool { return m.Key == k }) {
				muts = append(muts, store.Mutation{Table: "extensions", Key: k, Value: v})
				live[k] = v != nil
			}
		}
		if _, err := st.Write(ctx, "test", muts); err != nil {
			t.Fatal(err)
		}
		qs.check(t, svc, st, r, fmt.Sprintf("after writes %d", round))
	}
}

// indexQueries are the values random queries take.
type indexQueries struct {
	words, groups, clusters, sites []string
	offsets                        []int
}

// check compares 300 random listings from the index with listRows.
func (qs indexQueries) check(t *testing.T, svc *Service, st *store.Store, r *rand.Rand, round string) {
	t.Helper()
	sorts := []string{"", "name", "regexten", "astgroup", "cluster", "site"}
	pick := func(l []string) string {
		if len(l) == 0 {
			return ""
		}
		return l[r.Intn(len(l))]
	}
	offsets := qs.offsets
	if offsets == nil {
		offsets = []int{0, 5, 10}
	}
	all := scanRows(t, st)
	for i := 0; i < 300; i++ {
		q := Query{Search: pick(qs.words), Group: pick(qs.groups), Cluster: pick(qs.clusters), Site: pick(qs.sites),
			Sort: sorts[r.Intn(len(sorts))], Desc: r.Intn(2) == 0, Offset: offsets[r.Intn(len(offsets))], Limit: r.Intn(3) * 10}
		got, err := svc.List(context.Background(), "extensions", q)
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
			gotKeys = append(gotKeys, row["cluster"]+"/"+row["regexten"])
		}
		if !slices.Equal(gotKeys, want[lo:hi]) {
			t.Fatalf("%s: %+v:\n got %v\nwant %v", round, q, gotKeys, want[lo:hi])
		}
	}
}

// scanRows reads every extension as the reference sees it.
func scanRows(t *testing.T, st *store.Store) []*idxRow {
	t.Helper()
	var rows []*idxRow
	err := st.View(func(sn *store.Snapshot) error {
		return sn.Scan(pbx.Extensions.Name, "", func(key string, v []byte) error {
			rows = append(rows, newIdxRow(key, v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// listRows is the reference: every extension, the same filters and word
// rule, sorted the same way; it returns the keys.
func listRows(all []*idxRow, q Query) []string {
	query := searchWords(q.Search)
	var rows []*idxRow
	for _, r := range all {
		if q.Cluster != "" && !strings.EqualFold(r.cluster, q.Cluster) || q.Group != "" && !strings.EqualFold(r.group, q.Group) ||
			q.Site != "" && !strings.EqualFold(r.site, q.Site) {
			continue
		}
		if r.matches(query) {
			rows = append(rows, r)
		}
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
