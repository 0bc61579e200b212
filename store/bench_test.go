package store

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

// BenchmarkRawFsync is the anchor: one 4 KiB write and fsync on the disk
// of the temp dir.
func BenchmarkRawFsync(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "fsync")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < b.N; i++ {
		f.WriteAt(buf, int64(i%256)*4096)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchWrites(b *testing.B, writers int) {
	s := newTestStore(b, "tpa1")
	v := val("cluster", "tpa1", "name", "George Lopez", "callerid", "George Lopez <6109>", "mailbox", "6109")
	var n atomic.Int64
	b.SetParallelism(writers) // RunParallel starts writers × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.Write(bg, "bench", []Mutation{{Table: "extensions", Key: fmt.Sprintf("tpa1/%d", i), Value: v}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDurableWrite: fsynced writes, alone and with many writers
// sharing commits.
func BenchmarkDurableWrite(b *testing.B) {
	b.Run("writers=1", func(b *testing.B) {
		s := newTestStore(b, "tpa1")
		v := val("cluster", "tpa1", "name", "George Lopez")
		for i := 0; i < b.N; i++ {
			if _, err := s.Write(bg, "bench", []Mutation{{Table: "extensions", Key: fmt.Sprintf("tpa1/%d", i), Value: v}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("writers=32", func(b *testing.B) { benchWrites(b, 16) }) // 16 × GOMAXPROCS(2)
}
