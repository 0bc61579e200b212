package service

import (
	"bytes"
	"context"
	"math/rand"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestListJSONIsListsJSON checks that ListJSON, which writes an indexed
// page straight from the records' binary form, gives the bytes of List's
// page with the API's redaction (pbx.Table.Redact below the admin role),
// for indexed and unindexed listings, with a record carrying a newer
// agent's field (written by decoding it) and another written after the
// index was built.
func TestListJSONIsListsJSON(t *testing.T) {
	svc, st := sampleService(t)
	ctx := context.Background()
	newer := pbx.Fields{"cluster": "tpa1", "regexten": "6190", "name": "From A Newer Agent", "secret": "s3cret-newer", pbx.UnknownFieldPrefix + "250": "v"}
	if _, err := st.Write(ctx, "test", []store.Mutation{{Table: "extensions", Key: "tpa1/6190", Value: newer.AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	svc.List(ctx, "extensions", Query{Limit: 1}) // the index is built
	if _, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6191", "name": "Written Since", "secret": "s3cret-6191-x"}, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(3))
	queries := []Query{{}, {Search: "newer"}, {Search: "written"}, {Sort: "context"}, {Sort: "name", Desc: true, Limit: 7, Offset: 3}}
	for range 40 {
		queries = append(queries, Query{Search: []string{"", "geo", "61", "user", "a"}[r.Intn(5)], Group: []string{"", "IT", "USSales"}[r.Intn(3)],
			Sort: []string{"", "name", "regexten", "astgroup", "context"}[r.Intn(5)], Desc: r.Intn(2) == 0, Offset: r.Intn(20), Limit: r.Intn(30)})
	}
	for _, table := range []string{"extensions", "trunks"} {
		for _, q := range queries {
			if table == "trunks" && q.Sort != "" {
				q.Sort = ""
			}
			for _, redact := range []bool{false, true} {
				page, err := svc.List(ctx, table, q)
				if err != nil {
					t.Fatal(err)
				}
				if redact {
					tbl, _ := pbx.LookupTable(table)
					for i := range page.Rows {
						page.Rows[i] = tbl.Redact(page.Rows[i])
					}
				}
				got, err := svc.ListJSON(ctx, table, q, redact)
				if err != nil {
					t.Fatal(err)
				}
				if want := page.AppendJSON(nil); !bytes.Equal(got, want) {
					t.Fatalf("%s %+v redact %v:\n got %s\nwant %s", table, q, redact, got, want)
				}
			}
		}
	}
	if _, err := svc.ListJSON(ctx, "extensions", Query{Sort: "nosuch"}, false); err == nil {
		t.Fatal("ListJSON took a sort by a column that does not exist")
	}
}
