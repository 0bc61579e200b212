package secrets_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/store"
)

const benchRecords = 20_000

func benchStore(b *testing.B, sl store.Sealer) *store.Store {
	b.Helper()
	s := testutil.Store(b, "tpa1", func(c *store.Config) { c.Sealer = sl })
	for i := 0; i < benchRecords; i += 1000 {
		var muts []store.Mutation
		for j := i; j < i+1000; j++ {
			n := fmt.Sprint(100000 + j)
			muts = append(muts, store.Mutation{Table: "extensions", Key: "tpa1/" + n, Value: ext(n, sipSecret, vmPIN)})
		}
		if _, err := s.Write(context.Background(), "bench", muts); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func benchScan(b *testing.B, sl store.Sealer) {
	s := benchStore(b, sl)
	b.ResetTimer()
	for range b.N {
		n := 0
		s.View(func(sn *store.Snapshot) error {
			return sn.Scan("extensions", "", func(k string, v []byte) error {
				if pbx.HasField(v, "cluster", "tpa1") {
					n++
				}
				return nil
			})
		})
		if n != benchRecords {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}

// BenchmarkScanPlain and BenchmarkScanSealed: the cost of opening sealed
// values on the hot path of every listing.
func BenchmarkScanPlain(b *testing.B) { benchScan(b, nil) }

func BenchmarkScanSealed(b *testing.B) {
	kr, _ := keyringB(b)
	benchScan(b, kr)
}

// BenchmarkReseal: a key rotation over the store's records and log.
func BenchmarkReseal(b *testing.B) {
	kr, keys := keyringB(b)
	s := benchStore(b, kr)
	b.ResetTimer()
	for range b.N {
		nk, _ := secrets.NewKey()
		kr.Set(append([][]byte{nk}, keys...)...)
		keys = append([][]byte{nk}, keys...)
		n, err := s.Reseal(context.Background())
		if err != nil || n != 2*benchRecords {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*benchRecords), "ns/value")
}

func keyringB(b *testing.B) (*secrets.Keyring, [][]byte) {
	k, err := secrets.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	kr, err := secrets.New(k)
	if err != nil {
		b.Fatal(err)
	}
	return kr, [][]byte{k}
}
