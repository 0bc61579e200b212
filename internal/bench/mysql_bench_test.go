package bench

import (
	"context"
	"syscall"
	"testing"

	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
)

// BenchmarkMySQLBridged runs the suite's bridged path (200 transactions
// of 100 rows) once per iteration, for profiles (-cpuprofile) of the
// whole path: both bridges, both stores and the replication transport.
func BenchmarkMySQLBridged(b *testing.B) {
	if err := mariadbtest.Available(); err != nil {
		b.Skip(err)
	}
	for range b.N {
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		r, err := bridgedEndToEnd(context.Background(), Env{Dir: b.TempDir()}, 200, 100)
		if err != nil {
			b.Fatal(err)
		}
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
		// The whole call, set-up included (the servers' CPU is theirs).
		b.ReportMetric(float64(cpu)/20000/1000, "cpu-us/row")
		b.ReportMetric(float64(cpu)/1e9/r.total.Seconds(), "cpus-busy")
		b.ReportMetric(20000/r.total.Seconds(), "rows/s")
		b.ReportMetric(float64(r.p99.Milliseconds()), "p99-ms")
	}
}
