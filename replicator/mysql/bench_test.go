package mysql

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// BenchmarkBinlogIngest measures binlog rows taken into the store: b.N
// rows are written while the bridge is stopped, then read from the binlog.
func BenchmarkBinlogIngest(b *testing.B) {
	db := newDB(b, GuideDDL())
	a := newStore(b, "tpa1")
	cfg := testConfig(db, "guide")
	startBridge(b, a, cfg).stop()
	for i := 0; i < b.N; i += 1000 {
		var q strings.Builder
		q.WriteString("INSERT INTO pbxtopo_extensions (cluster, regexten, name, secret, context, allow) VALUES ")
		for j := i; j < min(i+1000, b.N); j++ {
			if j > i {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "('tpa1', '%d', 'User %d', 'hwtMazpRnvuS3VgA', 'USSales1', 'ulaw,alaw')", 100000+j, j)
		}
		sqlExec(b, db, q.String())
	}
	b.ResetTimer()
	cpu := cpuTime()
	br := startBridge(b, a, cfg)
	waitFor(b, "every row", func() bool { return br.Status().RowsIn >= uint64(b.N) })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/row")
	var n int
	a.View(func(sn *store.Snapshot) error { n = sn.Count("extensions"); return nil })
	if n != b.N {
		b.Fatalf("%d records for %d rows", n, b.N)
	}
}

// BenchmarkEndToEnd measures rows written in one database reaching
// another through two bridges, two stores and a pull loop (both databases
// on the package's one server).
func BenchmarkEndToEnd(b *testing.B) {
	dbA, dbB := newDB(b, GuideDDL()), newDB(b, GuideDDL())
	a, bs := newStore(b, "tpa1"), newStore(b, "tpa2")
	pull(b, bs, a)
	startBridge(b, a, testConfig(dbA, "guide"))
	startBridge(b, bs, testConfig(dbB, "guide"))
	ctx, cancel := context.WithCancel(bg)
	pulled := make(chan struct{})
	defer func() { cancel(); <-pulled }()
	go func() {
		defer close(pulled)
		all := func(store.Stream) bool { return true }
		for ctx.Err() == nil {
			changed := a.Changed()
			batch, err := a.ChangesSince(bs.Summary(), all, 4<<20)
			if err == nil && len(batch.Changes) > 0 {
				bs.Apply(ctx, batch.Changes)
			}
			if batch != nil && batch.More {
				continue
			}
			select {
			case <-ctx.Done():
			case <-changed:
			}
		}
	}()
	b.ResetTimer()
	cpu, dbCPU := cpuTime(), server.CPU()
	for i := 0; i < b.N; i += 100 {
		var q strings.Builder
		q.WriteString("INSERT INTO pbxtopo_extensions (cluster, regexten, name, secret, context, allow) VALUES ")
		for j := i; j < min(i+100, b.N); j++ {
			if j > i {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "('tpa1', '%d', 'User %d', 'hwtMazpRnvuS3VgA', 'USSales1', 'ulaw,alaw')", 100000+j, j)
		}
		sqlExec(b, dbA, q.String())
	}
	want := fmt.Sprint(b.N)
	waitFor(b, "every row at B", func() bool { return sqlValue(b, dbB, "SELECT COUNT(*) FROM pbxtopo_extensions") == want })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/row")
	// Both databases are on the one server: its inserts at A, the bridge's
	// upserts at B and both binlogs.
	b.ReportMetric(float64(server.CPU()-dbCPU)/float64(b.N), "mariadb-cpu-ns/row")
}

// cpuTime is the CPU this process used so far (user and system): on a
// shared machine, CPU per row is steadier than rows per second. MariaDB
// runs apart and is not counted.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
