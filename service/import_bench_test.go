package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/bench"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/service"
)

// BenchmarkImportExtensions imports the synthetic enterprise of bench
// scale (20,000 extensions; PBXTOPO_IMPORT_ROWS for more) into a fresh
// store through Service.Import, what pbxtopo import runs, and reports the
// CPU time and allocations per row.
func BenchmarkImportExtensions(b *testing.B) {
	rows := 20_000
	if v := os.Getenv("PBXTOPO_IMPORT_ROWS"); v != "" {
		if _, err := fmt.Sscan(v, &rows); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	files, err := bench.Enterprise{Clusters: 10, Extensions: rows, Roaming: 0.3, Seed: 7}.Write(dir)
	if err != nil {
		b.Fatal(err)
	}
	importFile := func(svc *service.Service, path string) {
		fh, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer fh.Close()
		table := strings.TrimSuffix(filepath.Base(path), ".csv")
		if _, err := svc.Import(context.Background(), service.ImportRequest{Table: table, Source: path}, fh); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		svc := service.NewService(testutil.Store(b, "c00"))
		for _, f := range files[:len(files)-1] {
			importFile(svc, f)
		}
		b.StartTimer()
		importFile(svc, files[len(files)-1])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
