package mysql

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/store"
)

// A write in MySQL and a write at another cluster to the same extension at
// the same time become one conflict, with the same winner everywhere, and
// MySQL ends up holding that winner.
func TestConcurrentWritesBecomeOneConflict(t *testing.T) {
	db := newDB(t, GuideDDL())
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	startBridge(t, a, testConfig(db, "guide"))
	putExt(t, b, "cluster", "tpa1", "regexten", "6109", "name", "Original")
	pull(t, a, b)
	waitFor(t, "the row in MySQL", func() bool {
		return sqlValue(t, db, "SELECT name FROM pbxtopo_extensions WHERE regexten = '6109'") == "Original"
	})

	// Neither write has seen the other.
	sqlExec(t, db, "UPDATE pbxtopo_extensions SET name = 'Written in MySQL' WHERE regexten = '6109'")
	putExt(t, b, "cluster", "tpa1", "regexten", "6109", "name", "Written at tpa2")
	waitFor(t, "the MySQL write in the store", func() bool { return fields(t, a, "tpa1/6109")["name"] == "Written in MySQL" })
	pull(t, a, b)
	pull(t, b, a)

	ra, rb := record(t, a, "tpa1/6109"), record(t, b, "tpa1/6109")
	if len(ra.Versions) != 2 || len(rb.Versions) != 2 {
		t.Fatalf("want one conflict of two versions, have %d at tpa1 and %d at tpa2", len(ra.Versions), len(rb.Versions))
	}
	if ra.Winner().Dot != rb.Winner().Dot {
		t.Fatalf("winners differ: %s and %s", ra.Winner().Dot, rb.Winner().Dot)
	}
	n := 0
	a.View(func(sn *store.Snapshot) error {
		return sn.Conflicts(func(*store.Record) error { n++; return nil })
	})
	if n != 1 {
		t.Fatalf("%d conflicts at tpa1, want 1", n)
	}
	winner := fields(t, a, "tpa1/6109")["name"]
	waitFor(t, "MySQL to hold the winner", func() bool {
		return sqlValue(t, db, "SELECT name FROM pbxtopo_extensions WHERE regexten = '6109'") == winner
	})
}

// The bridge stopped mid-stream and MariaDB killed and restarted lose no
// row and repeat none.
func TestRestartMidStreamLosesNothing(t *testing.T) {
	db := newDB(t, GuideDDL())
	a := newStore(t, "tpa1")
	cfg := testConfig(db, "guide")
	br := startBridge(t, a, cfg)
	insert := func(from, to int) {
		for i := from; i < to; i++ {
			sqlExec(t, db, guideInsert("tpa1", fmt.Sprint(7000+i), fmt.Sprint("user ", i)))
		}
	}
	count := func() int {
		n := 0
		a.View(func(sn *store.Snapshot) error { n = sn.Count("extensions"); return nil })
		return n
	}
	own := ownChanges(a)
	insert(0, 20)
	br.stop()
	insert(20, 40) // while the bridge is down
	br = startBridge(t, a, cfg)
	insert(40, 60)
	waitFor(t, "60 extensions", func() bool { return count() == 60 })

	server.Kill()
	if err := server.Restart(); err != nil {
		t.Fatal(err)
	}
	insert(60, 80)
	waitFor(t, "80 extensions after the MariaDB restart", func() bool { return count() == 80 })
	// Every row made exactly one change: nothing was taken in twice.
	if n := ownChanges(a) - own; n != 80 {
		t.Fatalf("%d changes for 80 rows", n)
	}
	if st := br.Status(); st.Reconnects == 0 || st.State != StateFollowing {
		t.Fatalf("status after the restart: %+v", st)
	}
}

// Without ROW format the bridge says which setting to change and waits.
func TestBinlogFormatMustBeRow(t *testing.T) {
	db := newDB(t, GuideDDL())
	sqlExec(t, db, "SET GLOBAL binlog_format = 'STATEMENT'")
	t.Cleanup(func() { sqlExec(t, db, "SET GLOBAL binlog_format = 'ROW'") })
	b, err := New(testConfig(db, "guide"), Deps{Store: newStore(t, "tpa1")})
	if err != nil {
		t.Fatal(err)
	}
	err = b.runInbound(bg, make(chan struct{}))
	if err == nil || !strings.Contains(err.Error(), "binlog_format") || !strings.Contains(err.Error(), "ROW") {
		t.Fatalf("err = %v, want one naming binlog_format=ROW", err)
	}
}

// A row that cannot map is parked with its key, column, fix and binlog
// position; the rows after it go on and the checkpoint moves past it. The
// park survives a restart, and fixing the store (adding the cluster)
// applies the row.
func TestUnmappableRowIsParkedAndTheRestGoesOn(t *testing.T) {
	db := newDB(t, GuideDDL())
	a := newStore(t, "tpa1")
	cfg := testConfig(db, "guide")
	br := startBridge(t, a, cfg)
	sqlExec(t, db, guideInsert("lon1", "4400", "London"), guideInsert("tpa1", "6109", "After"))
	waitFor(t, "the row after the bad one", func() bool { return fields(t, a, "tpa1/6109") != nil })
	waitFor(t, "the park", func() bool { return len(br.Status().Parked) == 1 })
	p := br.Status().Parked[0]
	if p.Side != ParkedIn || p.Row != "pbxtopo_extensions row cluster=lon1,regexten=4400" || p.Column != "cluster" ||
		!strings.Contains(p.Problem, "lon1") || p.Fix == "" || !strings.HasPrefix(p.Position, "binlog.") {
		t.Fatalf("park %+v", p)
	}
	if st := br.Status(); st.State != StateFollowing {
		t.Fatalf("state %s with a parked row", st.State)
	}
	// The checkpoint is past the parked row, and the park is kept.
	br.stop()
	br = startBridge(t, a, cfg)
	if ps := br.Status().Parked; len(ps) != 1 || ps[0].Row != p.Row || !ps[0].Since.Equal(p.Since) {
		t.Fatalf("parks after a restart: %+v", ps)
	}
	putCluster(t, a, "lon1", "lon")
	waitFor(t, "the parked row applied after the fix", func() bool {
		return fields(t, a, "lon1/4400")["name"] == "London" && len(br.Status().Parked) == 0
	})
}

// A bad value that MySQL itself later corrects: the later event applies
// the row and clears its park.
func TestUnmappableValueFixedInMySQL(t *testing.T) {
	db := newDB(t, GuideDDL())
	a := newStore(t, "tpa1")
	br := startBridge(t, a, testConfig(db, "guide"))
	sqlExec(t, db, "INSERT INTO pbxtopo_extensions (cluster, regexten, dtmfmode) VALUES ('tpa1', '6109', 'morse')")
	waitFor(t, "the park", func() bool { return len(br.Status().Parked) == 1 })
	if p := br.Status().Parked[0]; p.Column != "dtmfmode" || !strings.Contains(p.Problem, "regexten=6109") || !strings.Contains(p.Fix, "UPDATE") {
		t.Fatalf("park %+v does not name the column, the row and the fix", p)
	}
	sqlExec(t, db, "UPDATE pbxtopo_extensions SET dtmfmode = 'info' WHERE regexten = '6109'")
	waitFor(t, "the corrected row", func() bool { return fields(t, a, "tpa1/6109")["dtmfmode"] == "info" })
	waitFor(t, "no park", func() bool { return len(br.Status().Parked) == 0 })
}

// DDL on a mapped table mid-stream: the bridge reads the columns again
// and goes on.
func TestDDLOnMappedTable(t *testing.T) {
	db := newDB(t, GuideDDL())
	a := newStore(t, "tpa1")
	startBridge(t, a, testConfig(db, "guide"))
	sqlExec(t, db, guideInsert("tpa1", "6101", "Before"),
		"ALTER TABLE pbxtopo_extensions ADD COLUMN note VARCHAR(20) FIRST",
		"INSERT INTO pbxtopo_extensions (note, cluster, regexten, name) VALUES ('x', 'tpa1', '6102', 'After')",
		"ALTER TABLE pbxtopo_extensions DROP COLUMN note",
		guideInsert("tpa1", "6103", "Last"))
	waitFor(t, "every row", func() bool {
		return fields(t, a, "tpa1/6101")["name"] == "Before" && fields(t, a, "tpa1/6102")["name"] == "After" &&
			fields(t, a, "tpa1/6103")["name"] == "Last"
	})
}

// When the checkpoint's binlog was purged, the bridge dumps again: rows
// changed meanwhile come in, rows deleted meanwhile are deleted.
func TestPurgedBinlogDumpsAgain(t *testing.T) {
	db := newDB(t, GuideDDL())
	a := newStore(t, "tpa1")
	cfg := testConfig(db, "guide")
	br := startBridge(t, a, cfg)
	sqlExec(t, db, guideInsert("tpa1", "6101", "Keep"), guideInsert("tpa1", "6102", "Gone"))
	waitFor(t, "rows in", func() bool { return fields(t, a, "tpa1/6102") != nil })
	br.stop()
	sqlExec(t, db, "DELETE FROM pbxtopo_extensions WHERE regexten = '6102'",
		"UPDATE pbxtopo_extensions SET name = 'Kept' WHERE regexten = '6101'",
		guideInsert("tpa1", "6103", "New"), "FLUSH BINARY LOGS")
	file := sqlRows(t, db, "SHOW MASTER STATUS")[0][0]
	var raw []byte
	a.View(func(sn *store.Snapshot) error { raw = sn.Local("mysql/mysql/checkpoint"); return nil })
	ckpt, err := DecodeCheckpoint(raw)
	if err != nil {
		t.Fatal(err)
	}
	// The server keeps a file while the stopped reader's dump thread ends.
	waitFor(t, "the checkpoint's binlog to be purged", func() bool {
		server.Exec(db, "PURGE BINARY LOGS TO '"+file+"'")
		for _, r := range sqlRows(t, db, "SHOW BINARY LOGS") {
			if r[0] == ckpt.File {
				return false
			}
		}
		return true
	})
	br = startBridge(t, a, cfg)
	if br.Status().Dumps != 1 {
		t.Fatalf("status %+v: want a dump", br.Status())
	}
	if f := fields(t, a, "tpa1/6101"); f["name"] != "Kept" {
		t.Fatalf("6101 = %v", f)
	}
	if fields(t, a, "tpa1/6102") != nil || fields(t, a, "tpa1/6103") == nil {
		t.Fatal("the dump missed the deletion or the insertion")
	}
}

// TRUNCATE logs no rows; the bridge dumps again and deletes what it
// removed, then goes on streaming.
func TestTruncateDumpsAgain(t *testing.T) {
	db := newDB(t, GuideDDL())
	a := newStore(t, "tpa1")
	br := startBridge(t, a, testConfig(db, "guide"))
	sqlExec(t, db, guideInsert("tpa1", "6101", "old"), guideInsert("tpa1", "6102", "old"))
	waitFor(t, "rows in", func() bool { return fields(t, a, "tpa1/6102") != nil })
	sqlExec(t, db, "TRUNCATE TABLE pbxtopo_extensions", guideInsert("tpa1", "6103", "new"))
	waitFor(t, "the truncation in the store", func() bool {
		return fields(t, a, "tpa1/6101") == nil && fields(t, a, "tpa1/6102") == nil && fields(t, a, "tpa1/6103") != nil
	})
	sqlExec(t, db, guideInsert("tpa1", "6104", "after"))
	waitFor(t, "a row after the dump", func() bool { return fields(t, a, "tpa1/6104") != nil })
	if st := br.Status(); st.Dumps != 2 || st.Reconnects != 0 {
		t.Fatalf("status %+v: want a second dump and no failure", st)
	}
}

// Thousands of parked rows (more than one local value can hold) stop
// nothing: the rows after them apply and every park is kept. One value
// held them all before, and past a megabyte every write of the bridge
// failed (found by bench mysql).
func TestManyParkedRowsDoNotStopTheBridge(t *testing.T) {
	db := newDB(t, GuideDDL())
	a := newStore(t, "tpa1")
	br := startBridge(t, a, testConfig(db, "guide"))
	const bad = 3000
	var sb strings.Builder
	sb.WriteString("INSERT INTO pbxtopo_extensions (cluster, regexten, name) VALUES ")
	for i := range bad {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "('lon1', '%d', 'Nobody')", 10000+i)
	}
	sqlExec(t, db, sb.String(), guideInsert("tpa1", "6109", "After"))
	waitFor(t, "the row after the parked ones", func() bool { return fields(t, a, "tpa1/6109") != nil })
	if n := len(br.Status().Parked); n != bad {
		t.Fatalf("%d parked, want %d", n, bad)
	}
	putCluster(t, a, "lon1", "lon")
	waitFor(t, "the parked rows applied after the fix", func() bool {
		return fields(t, a, "lon1/12999")["name"] == "Nobody" && len(br.Status().Parked) == 0
	})
}
