package mysql

import (
	"testing"
)

// Rows inserted, updated and deleted in MySQL become store changes at this
// cluster, and reach a second cluster by ordinary replication.
func TestMySQLRowsReachTheStore(t *testing.T) {
	db := newDB(t, GuideDDL())
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	br := startBridge(t, a, testConfig(db, "guide"))

	sqlExec(t, db, guideInsert("tpa1", "6109", "George Lopez"), guideInsert("tpa2", "5020", "Kim"))
	waitFor(t, "both rows in the store", func() bool {
		return fields(t, a, "tpa1/6109") != nil && fields(t, a, "tpa2/5020") != nil
	})
	f := fields(t, a, "tpa1/6109")
	if f["name"] != "George Lopez" || f["context"] != "sales" || f["site"] != "tpa" || f["secret"] != "S3cret-6109" {
		t.Fatalf("tpa1/6109 = %v", f)
	}

	sqlExec(t, db, "UPDATE pbxtopo_extensions SET name = 'George L.', `call-limit` = 2 WHERE regexten = '6109'",
		"DELETE FROM pbxtopo_extensions WHERE regexten = '5020'")
	waitFor(t, "update and delete in the store", func() bool {
		f := fields(t, a, "tpa1/6109")
		return f["name"] == "George L." && f["call-limit"] == "2" && fields(t, a, "tpa2/5020") == nil
	})
	r := record(t, a, "tpa1/6109")
	if w := r.Winner(); w.Author != "mysql" || w.Dot.Stream.Cluster() != "tpa1" {
		t.Fatalf("change made by %q at %s, want mysql at tpa1", w.Author, w.Dot.Stream.Cluster())
	}
	pull(t, b, a)
	if f := fields(t, b, "tpa1/6109"); f["name"] != "George L." {
		t.Fatalf("second cluster has %v", f)
	}
	if fields(t, b, "tpa2/5020") != nil {
		t.Fatal("the deletion did not reach the second cluster")
	}
	st := br.Status()
	if st.State != StateFollowing || st.RowsIn < 4 || st.Position == "" {
		t.Fatalf("status %+v", st)
	}
}

// Changes made at another cluster reach MySQL as SQL, and the bridge's own
// SQL writes do not come back as store changes (no echo).
func TestOtherClustersReachMySQL(t *testing.T) {
	db := newDB(t, GuideDDL())
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	br := startBridge(t, a, testConfig(db, "guide"))
	own := ownChanges(a)

	putExt(t, b, "cluster", "tpa2", "regexten", "5020", "name", "Kim", "context", "support", "call-limit", "3")
	putExt(t, b, "cluster", "tpa1", "regexten", "6110", "name", "Lee", "mailbox", "6110@sales")
	pull(t, a, b)
	waitFor(t, "both rows in MySQL", func() bool {
		return sqlValue(t, db, "SELECT COUNT(*) FROM pbxtopo_extensions") == "2"
	})
	got := sqlRows(t, db, "SELECT cluster, regexten, name, context, `call-limit`, site FROM pbxtopo_extensions WHERE regexten = '5020'")
	if len(got) != 1 || got[0][2] != "Kim" || got[0][3] != "support" || got[0][4] != "3" || got[0][5] != "tpa" {
		t.Fatalf("row 5020 = %v", got)
	}

	putExt(t, b, "cluster", "tpa2", "regexten", "5020", "name", "Kim Park", "context", "support")
	delExt(t, b, "tpa1/6110")
	pull(t, a, b)
	waitFor(t, "update and delete in MySQL", func() bool {
		return sqlValue(t, db, "SELECT name FROM pbxtopo_extensions WHERE regexten = '5020'") == "Kim Park" &&
			sqlValue(t, db, "SELECT COUNT(*) FROM pbxtopo_extensions") == "1"
	})
	if v := sqlValue(t, db, "SELECT `call-limit` FROM pbxtopo_extensions WHERE regexten = '5020'"); v != "NULL" {
		t.Fatalf("call-limit = %s after the remote write cleared it", v)
	}
	// The echo of those writes is read and skipped.
	waitFor(t, "the echo to be read", func() bool { return br.Status().EchoRows >= 3 })
	if n := ownChanges(a); n != own {
		t.Fatalf("the bridge's own writes came back as %d changes at tpa1", n-own)
	}
	if st := br.Status(); st.RowsOut != 4 || st.ChangesIn != 0 {
		t.Fatalf("status %+v: want 4 rows out and no changes in", st)
	}

	// A local write at tpa1 through pbxtopo reaches MySQL too.
	putExt(t, a, "cluster", "tpa1", "regexten", "6120", "name", "Local")
	waitFor(t, "the local write in MySQL", func() bool {
		return sqlValue(t, db, "SELECT name FROM pbxtopo_extensions WHERE regexten = '6120'") == "Local"
	})
	// MySQL's own change after that still comes in.
	sqlExec(t, db, "UPDATE pbxtopo_extensions SET name = 'From MySQL' WHERE regexten = '6120'")
	waitFor(t, "the MySQL update in the store", func() bool { return fields(t, a, "tpa1/6120")["name"] == "From MySQL" })
	pull(t, b, a)
	if f := fields(t, b, "tpa1/6120"); f["name"] != "From MySQL" {
		t.Fatalf("tpa2 has %v", f)
	}
}

// Quotes, backslashes and non-ASCII text survive both directions.
func TestTextSurvivesBothWays(t *testing.T) {
	db := newDB(t, GuideDDL())
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	startBridge(t, a, testConfig(db, "guide"))
	name := `O'Brien \ "Zoë" \' ;--`
	putExt(t, b, "cluster", "tpa1", "regexten", "6109", "name", name)
	pull(t, a, b)
	waitFor(t, "the name in MySQL", func() bool {
		return sqlValue(t, db, "SELECT name FROM pbxtopo_extensions WHERE regexten = '6109'") == name
	})
	sqlExec(t, db, `UPDATE pbxtopo_extensions SET callerid = '"Zoë O''Brien" <6109>' WHERE regexten = '6109'`)
	waitFor(t, "the caller id in the store", func() bool {
		return fields(t, a, "tpa1/6109")["callerid"] == `"Zoë O'Brien" <6109>`
	})
	if f := fields(t, a, "tpa1/6109"); f["name"] != name {
		t.Fatalf("name came back as %q", f["name"])
	}
}
