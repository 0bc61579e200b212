package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// BenchmarkAPIQueries times the three kinds of search of the api suite
// in process, one at a time, for profiles (-cpuprofile).
func BenchmarkAPIQueries(b *testing.B) {
	svc, queries := apiBenchService(b, 100_000)
	benchQueries(b, queries, svc.List)
}

// benchQueries runs each kind of search through list, one at a time.
func benchQueries(b *testing.B, queries map[string]func() service.Query, list func(context.Context, string, service.Query) (*service.Page, error)) {
	ctx := context.Background()
	for kind, q := range queries {
		b.Run(kind, func(b *testing.B) {
			total := 0
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				p, err := list(ctx, "extensions", q())
				if err != nil {
					b.Fatal(err)
				}
				total += p.Total
			}
			b.ReportMetric(float64(total)/float64(b.N), "hits/op")
		})
	}
}

// BenchmarkAPIQueriesHTTP is BenchmarkAPIQueries through the HTTP API
// (server and client in this process, as in the api suite): what JSON and
// HTTP add to a search.
func BenchmarkAPIQueriesHTTP(b *testing.B) {
	svc, queries := apiBenchService(b, 100_000)
	srv := httptest.NewServer(httpapi.Handler(svc, nil))
	defer srv.Close()
	client, err := httpapi.NewClient(srv.URL, "")
	if err != nil {
		b.Fatal(err)
	}
	benchQueries(b, queries, client.List)
}

// BenchmarkPageJSON times a page of 50 extensions (a group's, as the
// api suite lists them) written by the server and read by the client:
// with encoding/json alone (the rows as plain maps), and with
// service.Page.AppendJSON and pbx.Fields.UnmarshalJSON.
func BenchmarkPageJSON(b *testing.B) {
	svc, queries := apiBenchService(b, 5_000)
	page, err := svc.List(context.Background(), "extensions", queries["group"]())
	if err != nil || len(page.Rows) != 50 {
		b.Fatalf("want a page of 50 rows: %v", err)
	}
	type plainPage struct {
		Total int                 `json:"total"`
		Rows  []map[string]string `json:"rows"`
	}
	plain := plainPage{Total: page.Total}
	for _, r := range page.Rows {
		plain.Rows = append(plain.Rows, r)
	}
	b.Run("encoding/json", func(b *testing.B) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			var buf bytes.Buffer
			json.NewEncoder(&buf).Encode(plain)
			var got plainPage
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil || len(got.Rows) != 50 {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON+UnmarshalJSON", func(b *testing.B) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			data := page.AppendJSON(nil)
			var got service.Page
			if err := json.Unmarshal(data, &got); err != nil || len(got.Rows) != 50 {
				b.Fatal(err)
			}
		}
	})
}

// reportCPU starts counting this process's CPU time (the GC's too); the
// function it returns reports it per op. It is steadier than ns/op on a
// machine other work shares.
func reportCPU(b *testing.B) func() {
	cpu0, _ := selfCPU()
	return func() {
		cpu1, _ := selfCPU()
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}

// apiBenchService is the api suite's store of n extensions behind a
// service, and its three kinds of search.
func apiBenchService(b *testing.B, n int) (*service.Service, map[string]func() service.Query) {
	dir := b.TempDir()
	files, err := Enterprise{Clusters: 10, Extensions: n, Roaming: 0.3, Seed: 3}.Write(dir)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(storeConfig(filepath.Join(dir, "api.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc := service.NewService(st)
	ctx := context.Background()
	for _, f := range files {
		fh, _ := os.Open(f)
		table := strings.TrimSuffix(filepath.Base(f), ".csv")
		if _, err := svc.Import(ctx, service.ImportRequest{Table: table, Source: f}, fh); err != nil {
			b.Fatal(err)
		}
		fh.Close()
	}
	svc.List(ctx, "extensions", service.Query{Limit: 1})
	r := rand.New(rand.NewSource(1))
	return svc, map[string]func() service.Query{
		"number": func() service.Query { return service.Query{Search: fmt.Sprint(100000 + r.Intn(n)), Limit: 50} },
		"name": func() service.Query {
			return service.Query{Search: fmt.Sprintf("User %d", 100000+r.Intn(n/10)), Sort: "name", Limit: 50}
		},
		"group": func() service.Query {
			return service.Query{Group: groupNames[r.Intn(len(groupNames))], Cluster: ClusterName(r.Intn(10)), Sort: "name", Limit: 50}
		},
	}
}
