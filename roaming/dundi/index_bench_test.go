package dundi

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// BenchmarkStoreDirectoryIndex is what the index of 100,000 roaming
// numbers (two clusters each) costs: ns/op, B/op and allocs/op are one
// rebuild from the store, and after the loop it reports what keeping the
// index costs the garbage collector, from runtime/metrics: its live heap
// (index-MB), the part of it the collector must scan for pointers
// (index-scan-MB), and the mark CPU of one full collection with the index
// live and with it dropped (gc-mark-us, gc-mark-us-without; the rest of
// the process is the same in both). A collection that marks less makes
// the pauses of a busy peer shorter and rarer.
func BenchmarkStoreDirectoryIndex(b *testing.B) {
	d := benchDirectory(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := d.Rebuild(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	with := gcCost()
	d.idx.Store(nil) // nothing looks up from here on
	without := gcCost()
	b.ReportMetric(float64(with.live-without.live)/1e6, "index-MB")
	b.ReportMetric(float64(with.scan-without.scan)/1e6, "index-scan-MB")
	b.ReportMetric(float64(with.mark.Microseconds()), "gc-mark-us")
	b.ReportMetric(float64(without.mark.Microseconds()), "gc-mark-us-without")
}

type gcFigures struct {
	live, scan uint64        // bytes after a full collection
	mark       time.Duration // mark CPU of one full collection (mean)
}

// gcCost runs full collections and returns the heap they left and the
// mark CPU each took.
func gcCost() gcFigures {
	const rounds = 10
	names := []string{"/gc/heap/live:bytes", "/gc/scan/heap:bytes",
		"/cpu/classes/gc/mark/assist:cpu-seconds", "/cpu/classes/gc/mark/dedicated:cpu-seconds", "/cpu/classes/gc/mark/idle:cpu-seconds"}
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	markCPU := func() float64 {
		metrics.Read(samples)
		return samples[2].Value.Float64() + samples[3].Value.Float64() + samples[4].Value.Float64()
	}
	runtime.GC()
	m0 := markCPU()
	for range rounds {
		runtime.GC()
	}
	m1 := markCPU()
	return gcFigures{live: samples[0].Value.Uint64(), scan: samples[1].Value.Uint64(),
		mark: time.Duration((m1 - m0) / rounds * 1e9)}
}
