package bench

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// BenchmarkAPIQueries times the three kinds of search of the api suite
// in process, one at a time, for profiles (-cpuprofile).
func BenchmarkAPIQueries(b *testing.B) {
	dir := b.TempDir()
	n := 100000
	files, err := Enterprise{Clusters: 10, Extensions: n, Roaming: 0.3, Seed: 3}.Write(dir)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(storeConfig(filepath.Join(dir, "api.db")))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
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
	for kind, q := range map[string]func() service.Query{
		"number": func() service.Query { return service.Query{Search: fmt.Sprint(100000 + r.Intn(n)), Limit: 50} },
		"name": func() service.Query {
			return service.Query{Search: fmt.Sprintf("User %d", 100000+r.Intn(n/10)), Sort: "name", Limit: 50}
		},
		"group": func() service.Query {
			return service.Query{Group: groupNames[r.Intn(len(groupNames))], Cluster: ClusterName(r.Intn(10)), Sort: "name", Limit: 50}
		},
	} {
		b.Run(kind, func(b *testing.B) {
			total := 0
			for i := 0; i < b.N; i++ {
				p, err := svc.List(ctx, "extensions", q())
				if err != nil {
					b.Fatal(err)
				}
				total += p.Total
			}
			b.ReportMetric(float64(total)/float64(b.N), "hits/op")
		})
	}
}
