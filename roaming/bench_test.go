package roaming_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/bench"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// benchStore returns a store holding a synthetic enterprise of n
// extensions on 10 clusters, 30% of the numbers roaming. `pbxtopo bench
// roaming` measures the same at 100,000.
func benchStore(b *testing.B, n int) *store.Store {
	dir := b.TempDir()
	files, err := bench.Enterprise{Clusters: 10, Extensions: n, Roaming: 0.3, Seed: 1}.Write(dir)
	if err != nil {
		b.Fatal(err)
	}
	cfg := store.DefaultConfig(filepath.Join(dir, "store.db"))
	cfg.Replica = bench.ClusterName(0)
	st, err := store.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc := service.NewService(st)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		table := strings.TrimSuffix(filepath.Base(f), ".csv")
		if _, err := svc.Import(context.Background(), service.ImportRequest{Table: table, Source: f}, fh); err != nil {
			b.Fatal(err)
		}
		fh.Close()
	}
	return st
}

func benchLoad(b *testing.B, fn func(e *roaming.Enterprise) error) {
	st := benchStore(b, 20_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := st.View(func(sn *store.Snapshot) error {
			e, err := roaming.Load(sn, roaming.DefaultConfig().Policy)
			if err != nil {
				return err
			}
			return fn(e)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReport20k(b *testing.B) {
	benchLoad(b, func(e *roaming.Enterprise) error {
		_, err := roaming.NewReport(e, roaming.Filter{})
		return err
	})
}

func BenchmarkAudit20k(b *testing.B) {
	benchLoad(b, func(e *roaming.Enterprise) error {
		roaming.Audit(e, roaming.DefaultConfig(), nil, roaming.Info)
		return nil
	})
}

func BenchmarkDUNDiBundle20k(b *testing.B) {
	benchLoad(b, func(e *roaming.Enterprise) error {
		_, err := roaming.NewBundle(e, bench.ClusterName(0), roaming.DefaultDUNDiConfig())
		return err
	})
}
