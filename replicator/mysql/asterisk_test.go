package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/asteriskdb"
	"github.com/pbxtopo/pbxtopo/store"
)

// These tests run every mapping on Asterisk's own realtime schema
// (package asteriskdb: contrib/realtime/mysql/mysql_config.sql of Asterisk
// 22, untrimmed). asterisk_live_test.go has the shared Asterisk read it.

// newAsteriskDB creates a database with Asterisk's realtime tables.
func newAsteriskDB(t testing.TB) string {
	t.Helper()
	db := newDB(t)
	schema, err := asteriskdb.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Create(func(q ...string) error { return server.Exec(db, q...) }); err != nil {
		t.Fatal(err)
	}
	return db
}

// The PJSIP tables: an endpoint, its auth and its aor are one extension;
// an extension written elsewhere becomes the three rows Asterisk needs.
func TestPJSIPMapping(t *testing.T) {
	db := newAsteriskDB(t)
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	startBridge(t, a, testConfig(db, "pjsip"))
	sqlExec(t, db, "INSERT INTO ps_endpoints (id, aors, auth, context, dtmf_mode, direct_media, mailboxes, force_rport) VALUES ('6109', '6109', '6109', 'sales', 'rfc4733', 'no', '6109@sales', 'yes')",
		"INSERT INTO ps_auths (id, auth_type, username, password) VALUES ('6109', 'userpass', '6109', 'Pj-secret9')",
		"INSERT INTO ps_aors (id, max_contacts, qualify_frequency) VALUES ('6109', 1, 60)")
	// Three statements, three binlog transactions: wait for the last one's
	// (the aor's qualify) as well as the auth's.
	waitFor(t, "the endpoint with its secret and its aor", func() bool {
		f := fields(t, a, "tpa1/6109")
		return f["secret"] == "Pj-secret9" && f["qualify"] == "yes"
	})
	f := fields(t, a, "tpa1/6109")
	if f["dtmfmode"] != "rfc2833" || f["protocol"] != "PJSIP" || f["authuser"] != "" || f["mailbox"] != "6109@sales" ||
		f["nat"] != "yes" || f["qualify"] != "yes" {
		t.Fatalf("record %v", f)
	}
	putExt(t, b, "cluster", "tpa1", "regexten", "6110", "secret", "Other-pw1", "dtmfmode", "rfc2833", "context", "support",
		"acl", "internal_phones", "nat", "yes", "qualify", "yes", "md5secret", "", "rtptimeout", "60", "rtpholdtimeout", "300")
	putExt(t, b, "cluster", "tpa1", "regexten", "6111", "name", "No secret", "context", "support", "protocol", "PJSIP")
	putExt(t, b, "cluster", "tpa1", "regexten", "6112", "name", "An IAX phone", "secret", "Iax-pw12", "protocol", "IAX2", "context", "support")
	pull(t, a, b)
	waitFor(t, "the PJSIP rows of 6110", func() bool {
		return sqlValue(t, db, "SELECT password FROM ps_auths WHERE id = '6110'") == "Other-pw1" &&
			sqlValue(t, db, "SELECT max_contacts FROM ps_aors WHERE id = '6110'") == "1"
	})
	got := sqlRows(t, db, "SELECT aors, auth, dtmf_mode, context, acl, force_rport, rtp_symmetric, rewrite_contact, rtp_timeout, rtp_timeout_hold FROM ps_endpoints WHERE id = '6110'")
	if want := "6110 6110 rfc4733 support internal_phones yes yes yes 60 300"; len(got) != 1 || strings.Join(got[0], " ") != want {
		t.Fatalf("ps_endpoints 6110 = %v, want %s", got, want)
	}
	if got := sqlRows(t, db, "SELECT username, auth_type FROM ps_auths WHERE id = '6110'"); strings.Join(got[0], " ") != "6110 userpass" {
		t.Fatalf("ps_auths 6110 = %v", got)
	}
	if got := sqlRows(t, db, "SELECT remove_existing, qualify_frequency FROM ps_aors WHERE id = '6110'"); strings.Join(got[0], " ") != "yes 60" {
		t.Fatalf("ps_aors 6110 = %v", got)
	}
	// No secret: no ps_auths row, and the endpoint names none.
	waitFor(t, "the endpoint 6111", func() bool { return sqlValue(t, db, "SELECT COUNT(*) FROM ps_endpoints WHERE id = '6111'") == "1" })
	if auth := sqlValue(t, db, "SELECT auth FROM ps_endpoints WHERE id = '6111'"); auth != "NULL" {
		t.Fatalf("an endpoint without a secret points at auth %q", auth)
	}
	if n := sqlValue(t, db, "SELECT COUNT(*) FROM ps_auths WHERE id = '6111'"); n != "0" {
		t.Fatal("an auth row without a secret")
	}
	// IAX: iaxfriends, not PJSIP.
	waitFor(t, "the IAX friend 6112", func() bool { return sqlValue(t, db, "SELECT secret FROM iaxfriends WHERE name = '6112'") == "Iax-pw12" })
	if n := sqlValue(t, db, "SELECT COUNT(*) FROM ps_endpoints WHERE id = '6112'"); n != "0" {
		t.Fatal("an IAX extension became a PJSIP endpoint")
	}
}

// A SIP extension (the default protocol) is served by PJSIP; an edit in
// MariaDB keeps it SIP.
func TestMariaDBEditKeepsTheProtocol(t *testing.T) {
	db := newAsteriskDB(t)
	a := newStore(t, "tpa1")
	startBridge(t, a, testConfig(db, "pjsip"))
	putExt(t, a, "cluster", "tpa1", "regexten", "6101", "name", "Sip phone", "secret", "Sip-pw01", "protocol", "SIP", "context", "sales")
	waitFor(t, "the endpoint", func() bool { return sqlValue(t, db, "SELECT context FROM ps_endpoints WHERE id = '6101'") == "sales" })
	sqlExec(t, db, "UPDATE ps_endpoints SET context = 'support' WHERE id = '6101'")
	waitFor(t, "the edit", func() bool { return fields(t, a, "tpa1/6101")["context"] == "support" })
	if p := fields(t, a, "tpa1/6101")["protocol"]; p != "SIP" {
		t.Fatalf("protocol %q after an edit in MariaDB", p)
	}
}

// Values Asterisk's columns accept: yes/no spelled as Asterisk takes them
// map; values pbx has no place for park their row only, and the rows after
// them go on.
func TestValuesAsteriskAccepts(t *testing.T) {
	db := newAsteriskDB(t)
	a := newStore(t, "tpa1")
	br := startBridge(t, a, testConfig(db, "pjsip"))
	sqlExec(t, db, "INSERT INTO ps_endpoints (id, aors, direct_media, context) VALUES ('6201', '6201', 'true', 'sales')",
		"INSERT INTO ps_endpoints (id, aors, dtmf_mode, context) VALUES ('6202', '6202', 'auto_info', 'sales')",
		"INSERT INTO ps_endpoints (id, aors, media_encryption, context) VALUES ('6203', '6203', 'dtls', 'sales')",
		"INSERT INTO ps_endpoints (id, aors, direct_media, context) VALUES ('6204', '6204', 'off', 'sales')")
	waitFor(t, "the last row", func() bool { return fields(t, a, "tpa1/6204") != nil })
	if v := fields(t, a, "tpa1/6201")["canreinvite"]; v != "yes" {
		t.Fatalf("direct_media 'true' became %q", v)
	}
	if v := fields(t, a, "tpa1/6204")["canreinvite"]; v != "no" {
		t.Fatalf("direct_media 'off' became %q", v)
	}
	waitFor(t, "two parks", func() bool { return len(br.Status().Parked) == 2 })
	ps := br.Status().Parked
	if ps[0].Row != "ps_endpoints row id=6202" || ps[0].Column != "dtmf_mode" || !strings.Contains(ps[0].Problem, "auto_info") ||
		ps[1].Row != "ps_endpoints row id=6203" || ps[1].Column != "media_encryption" || !strings.Contains(ps[1].Fix, "UPDATE `ps_endpoints`") {
		t.Fatalf("parks %+v", ps)
	}
	if fields(t, a, "tpa1/6202") != nil {
		t.Fatal("a parked row was taken in")
	}
	// Fixed in MariaDB: applied, and no longer parked.
	sqlExec(t, db, "UPDATE ps_endpoints SET dtmf_mode = 'info' WHERE id = '6202'")
	waitFor(t, "the fixed row", func() bool { return fields(t, a, "tpa1/6202")["dtmfmode"] == "info" && len(br.Status().Parked) == 1 })
	// The rows are not written back: MySQL keeps its spelling; only the
	// aors Asterisk needs are added.
	waitFor(t, "the aors", func() bool { return sqlValue(t, db, "SELECT COUNT(*) FROM ps_aors") == "3" })
	if got := sqlRows(t, db, "SELECT direct_media FROM ps_endpoints WHERE id IN ('6201', '6204') ORDER BY id"); got[0][0] != "true" || got[1][0] != "off" {
		t.Fatalf("direct_media rewritten: %v", got)
	}
}

// A value longer than Asterisk's column parks that record only, naming
// the extension, the column and the fix; other changes reach MySQL; the
// fix writes the row.
func TestTooLongValueIsParked(t *testing.T) {
	db := newAsteriskDB(t)
	a := newStore(t, "tpa1")
	br := startBridge(t, a, testConfig(db, "pjsip"))
	long := `"Maximilian Alexander Featherstonehaugh-Smythe" <6109>`
	putExt(t, a, "cluster", "tpa1", "regexten", "6109", "callerid", long, "secret", "Long-pw09")
	putExt(t, a, "cluster", "tpa1", "regexten", "6110", "name", "Next", "secret", "Next-pw10", "mailbox", "6110")
	putExt(t, a, "cluster", "tpa1", "regexten", "6111", "name", "After", "secret", "After-pw11")
	waitFor(t, "the later extension", func() bool { return sqlValue(t, db, "SELECT COUNT(*) FROM ps_endpoints WHERE id = '6111'") == "1" })
	waitFor(t, "two parks", func() bool { return len(br.Status().Parked) == 2 })
	ps := br.Status().Parked
	long0, pin := ps[0], ps[1]
	if long0.Row != "ps_endpoints row id=6109" {
		long0, pin = ps[1], ps[0]
	}
	if long0.Side != ParkedOut || long0.Column != "callerid" || !strings.Contains(long0.Problem, "extension tpa1/6109") ||
		!strings.Contains(long0.Problem, "at most 40 characters") || !strings.Contains(long0.Fix, "pbxtopo ext set tpa1/6109 callerid=") {
		t.Fatalf("park %+v", long0)
	}
	// A mailbox without a PIN: voicemail.password is NOT NULL.
	if pin.Table != "voicemail" || pin.Column != "password" || !strings.Contains(pin.Fix, "vmsecret") {
		t.Fatalf("park %+v", pin)
	}
	if n := sqlValue(t, db, "SELECT COUNT(*) FROM ps_auths WHERE id = '6109'"); n != "1" {
		t.Fatal("the other tables' rows of the parked record were held back")
	}
	putExt(t, a, "cluster", "tpa1", "regexten", "6109", "callerid", `"Max F." <6109>`, "secret", "Long-pw09")
	putExt(t, a, "cluster", "tpa1", "regexten", "6110", "name", "Next", "secret", "Next-pw10", "mailbox", "6110", "vmsecret", "2468")
	waitFor(t, "the fixed rows", func() bool {
		return sqlValue(t, db, "SELECT callerid FROM ps_endpoints WHERE id = '6109'") == `"Max F." <6109>` &&
			sqlValue(t, db, "SELECT password FROM voicemail WHERE mailbox = '6110'") == "2468"
	})
	waitFor(t, "no park", func() bool { return len(br.Status().Parked) == 0 })
}

// Voicemail boxes are named by the extension's mailbox field, carry its
// name as fullname, and move when the mailbox does. A box that no
// extension has makes no extension: it is parked until one has it.
func TestVoicemailByMailboxField(t *testing.T) {
	db := newAsteriskDB(t)
	a := newStore(t, "tpa1")
	br := startBridge(t, a, testConfig(db, "pjsip"))
	putExt(t, a, "cluster", "tpa1", "regexten", "6109", "name", "George Lee", "secret", "Vm-pw0909", "mailbox", "8109@sales", "vmsecret", "4831")
	waitFor(t, "the box", func() bool {
		return sqlValue(t, db, "SELECT CONCAT(context, ' ', password, ' ', fullname) FROM voicemail WHERE mailbox = '8109'") == "sales 4831 George Lee"
	})
	sqlExec(t, db, "UPDATE voicemail SET email = 'george@example.com', password = '5555' WHERE mailbox = '8109'")
	waitFor(t, "the PIN from MariaDB", func() bool { return fields(t, a, "tpa1/6109")["vmsecret"] == "5555" })
	putExt(t, a, "cluster", "tpa1", "regexten", "6109", "name", "George Lee", "secret", "Vm-pw0909", "mailbox", "8110", "vmsecret", "5555")
	waitFor(t, "the box moved", func() bool {
		return sqlValue(t, db, "SELECT COUNT(*) FROM voicemail WHERE mailbox = '8109'") == "0" &&
			sqlValue(t, db, "SELECT context FROM voicemail WHERE mailbox = '8110'") == "default"
	})
	// A box no extension has.
	sqlExec(t, db, "INSERT INTO voicemail (context, mailbox, password, fullname) VALUES ('default', '7777', '1357', 'Nobody')",
		"INSERT INTO ps_endpoints (id, aors, context) VALUES ('6300', '6300', 'sales')")
	waitFor(t, "a later row", func() bool { return fields(t, a, "tpa1/6300") != nil })
	if fields(t, a, "tpa1/7777") != nil {
		t.Fatal("a voicemail row made an extension")
	}
	waitFor(t, "the park", func() bool { return len(br.Status().Parked) == 1 })
	if p := br.Status().Parked[0]; p.Row != "voicemail row context=default,mailbox=7777" || !strings.Contains(p.Fix, "mailbox=7777@default") {
		t.Fatalf("park %+v", p)
	}
	// An extension takes the box: the parked row applies to it.
	putExt(t, a, "cluster", "tpa1", "regexten", "6300", "name", "Taker", "mailbox", "7777", "context", "sales")
	waitFor(t, "the box's PIN on its extension", func() bool {
		return fields(t, a, "tpa1/6300")["vmsecret"] == "1357" && len(br.Status().Parked) == 0
	})
}

// The chan_sip mapping starts on Asterisk's own sippeers (which has no
// encryption or musiconhold column) and keeps IAX extensions out of it.
func TestSippeersMapping(t *testing.T) {
	db := newAsteriskDB(t)
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	br := startBridge(t, a, testConfig(db, "sippeers"))
	sqlExec(t, db, "INSERT INTO sippeers (name, type, context, secret, dtmfmode, directmedia, callerid, `call-limit`, host, mohsuggest) "+
		"VALUES ('6109', 'friend', 'sales', 'Xy7-secret', 'rfc2833', 'no', '\"George\" <6109>', 2, 'dynamic', 'jazz')",
		"INSERT INTO voicemail (context, mailbox, password, fullname) VALUES ('sales', '6109', '4831', 'George')")
	waitFor(t, "the extension with its mailbox", func() bool { return fields(t, a, "tpa1/6109")["vmsecret"] == "4831" })
	f := fields(t, a, "tpa1/6109")
	want := map[string]string{"type": "friend", "context": "sales", "secret": "Xy7-secret", "canreinvite": "no",
		"call-limit": "2", "mailbox": "6109@sales", "protocol": "SIP", "host": "dynamic", "musiconhold": "jazz", "name": "George"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q (record %v)", k, f[k], v, f)
		}
	}
	// Asterisk's own registration columns are not configuration.
	sqlExec(t, db, "UPDATE sippeers SET ipaddr = '10.1.1.9', regseconds = 1700000000, useragent = 'Yealink' WHERE name = '6109'")
	sqlExec(t, db, "DELETE FROM voicemail WHERE mailbox = '6109'")
	waitFor(t, "the mailbox removed", func() bool { return fields(t, a, "tpa1/6109")["mailbox"] == "" })
	if f := fields(t, a, "tpa1/6109"); f["ipaddr"] != "" || f["secret"] != "Xy7-secret" || f["name"] != "George" {
		t.Fatalf("record %v", f)
	}
	putExt(t, b, "cluster", "tpa1", "regexten", "6110", "name", "Lee", "secret", "Abc-123x", "mailbox", "6110",
		"vmsecret", "9931", "dtmfmode", "info", "canreinvite", "yes")
	putExt(t, b, "cluster", "tpa1", "regexten", "6112", "name", "Iax", "secret", "Iax-pw12", "protocol", "IAX2")
	putExt(t, b, "cluster", "tpa2", "regexten", "5020", "name", "Not here")
	pull(t, a, b)
	waitFor(t, "the rows of 6110 and 6112", func() bool {
		return sqlValue(t, db, "SELECT password FROM voicemail WHERE mailbox = '6110'") == "9931" &&
			sqlValue(t, db, "SELECT secret FROM iaxfriends WHERE name = '6112'") == "Iax-pw12"
	})
	got := sqlRows(t, db, "SELECT secret, dtmfmode, directmedia, context FROM sippeers WHERE name = '6110'")
	if len(got) != 1 || got[0][0] != "Abc-123x" || got[0][1] != "info" || got[0][2] != "yes" {
		t.Fatalf("sippeers 6110 = %v", got)
	}
	if n := sqlValue(t, db, "SELECT COUNT(*) FROM sippeers WHERE name IN ('5020', '6112')"); n != "0" {
		t.Fatal("another cluster's or an IAX extension was written to sippeers")
	}
	// A voicemail-only row: no phantom extension, no SIP peer.
	sqlExec(t, db, "INSERT INTO voicemail (context, mailbox, password) VALUES ('default', '6999', '1111')")
	waitFor(t, "its park", func() bool { return len(br.Status().Parked) == 1 })
	if fields(t, a, "tpa1/6999") != nil || sqlValue(t, db, "SELECT COUNT(*) FROM sippeers WHERE name = '6999'") != "0" {
		t.Fatal("a voicemail-only row made an extension")
	}
	// directmedia values pbx has no place for park.
	sqlExec(t, db, "INSERT INTO sippeers (name, directmedia) VALUES ('6120', 'nonat')")
	waitFor(t, "the second park", func() bool { return len(br.Status().Parked) == 2 })
	delExt(t, b, "tpa1/6110")
	pull(t, a, b)
	waitFor(t, "both rows deleted", func() bool {
		return sqlValue(t, db, "SELECT COUNT(*) FROM sippeers WHERE name = '6110'") == "0" &&
			sqlValue(t, db, "SELECT COUNT(*) FROM voicemail WHERE mailbox = '6110'") == "0"
	})
}

// The guide's table lives beside Asterisk's realtime dialplan table
// (named extensions) without touching it.
func TestGuideTableBesideAsterisksDialplan(t *testing.T) {
	db := newAsteriskDB(t)
	sqlExec(t, db, GuideDDL(), "INSERT INTO extensions (context, exten, priority, app, appdata) VALUES ('sales', '6109', 1, 'Dial', 'PJSIP/6109')")
	a := newStore(t, "tpa1")
	startBridge(t, a, testConfig(db, "guide"))
	putExt(t, a, "cluster", "tpa1", "regexten", "6109", "name", "George")
	waitFor(t, "the guide row", func() bool {
		return sqlValue(t, db, "SELECT name FROM pbxtopo_extensions WHERE regexten = '6109'") == "George"
	})
	if got := sqlRows(t, db, "SELECT context, exten, app FROM extensions"); len(got) != 1 || strings.Join(got[0], " ") != "sales 6109 Dial" {
		t.Fatalf("Asterisk's dialplan table: %v", got)
	}
}

// Restarts and full passes write nothing when MySQL already holds every
// record, even where it stores a value differently from pbx (a SIP
// extension served by PJSIP, qualify as a frequency, nat as three
// columns).
func TestNoRewriteOfUnchangedRows(t *testing.T) {
	db := newAsteriskDB(t)
	a := newStore(t, "tpa1")
	cfg := testConfig(db, "pjsip")
	br := startBridge(t, a, cfg)
	putExt(t, a, "cluster", "tpa1", "regexten", "6101", "name", "Sip", "secret", "Sip-pw01", "qualify", "500", "nat", "never",
		"mailbox", "6101", "vmsecret", "1234", "canreinvite", "no", "dtmfmode", "rfc2833", "encryption", "yes")
	putExt(t, a, "cluster", "tpa1", "regexten", "6102", "name", "Iax", "secret", "Iax-pw02", "protocol", "IAX2", "encryption", "yes")
	waitFor(t, "the rows", func() bool {
		return sqlValue(t, db, "SELECT COUNT(*) FROM voicemail WHERE mailbox = '6101'") == "1" &&
			sqlValue(t, db, "SELECT COUNT(*) FROM iaxfriends WHERE name = '6102'") == "1"
	})
	waitFor(t, "the echo", func() bool { return br.Status().EchoRows >= 5 })
	br.stop()
	changes := ownChanges(a)
	cfg.FullPassEvery = 200 * time.Millisecond
	br = startBridge(t, a, cfg)
	waitFor(t, "three full passes", func() bool { return br.Status().FullPasses >= 3 })
	if st := br.Status(); st.RowsOut != 0 || ownChanges(a) != changes {
		t.Fatalf("%d rows rewritten, %d store changes made by a restart and full passes", st.RowsOut, ownChanges(a)-changes)
	}
}

// Two bridges reading one server (two clusters) get server ids of their
// own; two with the same id are told what to change.
func TestTwoBridgesOnOneServer(t *testing.T) {
	db1, db2 := newAsteriskDB(t), newAsteriskDB(t)
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	c1, c2 := testConfig(db1, "pjsip"), testConfig(db2, "pjsip")
	c1.ServerID, c2.ServerID = 0, 0
	b1, b2 := startBridge(t, a, c1), startBridge(t, b, c2)
	if b1.Status().ServerID == 0 || b1.cfg.ServerID == b2.cfg.ServerID {
		t.Fatalf("server ids %d and %d", b1.cfg.ServerID, b2.cfg.ServerID)
	}
	putExt(t, a, "cluster", "tpa1", "regexten", "6101", "secret", "One-pw01")
	putExt(t, b, "cluster", "tpa2", "regexten", "5020", "secret", "Two-pw20")
	waitFor(t, "both", func() bool {
		return sqlValue(t, db1, "SELECT COUNT(*) FROM ps_endpoints") == "1" && sqlValue(t, db2, "SELECT COUNT(*) FROM ps_endpoints") == "1"
	})
	if st := b1.Status(); st.Reconnects != 0 {
		t.Fatalf("bridge 1 reconnected: %s", st.LastError)
	}
	b2.stop()
	c2.ServerID = b1.cfg.ServerID
	b2 = startBridge(t, b, c2)
	waitFor(t, "the hint", func() bool {
		e1, e2 := b1.Status().LastError, b2.Status().LastError
		return strings.Contains(e1+e2, "mysql.server_id")
	})
}

// A cluster's Asterisk also knows the extensions of the clusters that fail
// over to it, so their phones can register there: tpa1 fails over to
// tpa2, whose tables hold tpa1's 6109 (its own extensions win a number
// they share); an edit there is an edit of tpa1's extension; and the rows
// go when tpa1 no longer fails over to tpa2.
func TestStandbyRowsForClustersThatFailOverHere(t *testing.T) {
	db := newAsteriskDB(t)
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	putCluster := func(failover string) {
		f := pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "192.168.0.218", "failover": failover}
		if _, err := a.Write(bg, "admin", []store.Mutation{{Table: "clusters", Key: "tpa1", Value: f.AppendBinary(nil)}}); err != nil {
			t.Fatal(err)
		}
	}
	putCluster("tpa2")
	putExt(t, a, "cluster", "tpa1", "regexten", "6109", "secret", "Home-pw09", "context", "sales")
	putExt(t, a, "cluster", "tpa1", "regexten", "5020", "secret", "Tpa1-pw20", "context", "sales")
	putExt(t, a, "cluster", "tpa2", "regexten", "5020", "secret", "Tpa2-pw20", "context", "hr")
	pull(t, b, a)
	br := startBridge(t, b, testConfig(db, "pjsip"))
	waitFor(t, "tpa1's 6109 at tpa2", func() bool { return sqlValue(t, db, "SELECT password FROM ps_auths WHERE id = '6109'") == "Home-pw09" })
	waitFor(t, "tpa2's own 5020", func() bool { return sqlValue(t, db, "SELECT password FROM ps_auths WHERE id = '5020'") == "Tpa2-pw20" })
	sqlExec(t, db, "UPDATE ps_endpoints SET context = 'support' WHERE id = '6109'")
	waitFor(t, "the edit on tpa1's extension", func() bool { return fields(t, b, "tpa1/6109")["context"] == "support" })
	if fields(t, b, "tpa2/6109") != nil {
		t.Fatal("an edit of a standby row made an extension of tpa2")
	}
	putCluster("")
	pull(t, b, a)
	waitFor(t, "the standby rows gone", func() bool { return sqlValue(t, db, "SELECT COUNT(*) FROM ps_endpoints WHERE id = '6109'") == "0" })
	if fields(t, b, "tpa1/6109") == nil || sqlValue(t, db, "SELECT password FROM ps_auths WHERE id = '5020'") != "Tpa2-pw20" || len(br.Status().Parked) != 0 {
		t.Fatal("removing the standby rows touched the extension or tpa2's own rows")
	}
}

// A MariaDB edit of a field that is in conflict in the store is parked
// with the conflict and the fix; resolving the conflict applies it.
func TestEditOfAFieldInConflictIsParked(t *testing.T) {
	db := newAsteriskDB(t)
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	putExt(t, a, "cluster", "tpa1", "regexten", "6109", "secret", "Conf-pw09", "context", "sales")
	pull(t, b, a)
	br := startBridge(t, a, testConfig(db, "pjsip"))
	waitFor(t, "the endpoint", func() bool { return sqlValue(t, db, "SELECT context FROM ps_endpoints WHERE id = '6109'") == "sales" })
	putExt(t, a, "cluster", "tpa1", "regexten", "6109", "secret", "Conf-pw09", "context", "sales2")
	putExt(t, b, "cluster", "tpa1", "regexten", "6109", "secret", "Conf-pw09", "context", "hr")
	pull(t, a, b)
	if r := record(t, a, "tpa1/6109"); len(r.Versions) < 2 {
		t.Fatalf("no conflict: %+v", r)
	}
	// The row shows the conflict's winner before MariaDB edits it (Caught
	// alone may still be true from before the conflict arrived).
	waitFor(t, "the winner in MariaDB", func() bool {
		return br.Status().Caught && sqlValue(t, db, "SELECT context FROM ps_endpoints WHERE id = '6109'") == fields(t, a, "tpa1/6109")["context"]
	})
	sqlExec(t, db, "UPDATE ps_endpoints SET context = 'support' WHERE id = '6109'")
	waitFor(t, "the park", func() bool { return len(br.Status().Parked) == 1 })
	p := br.Status().Parked[0]
	if p.Row != "ps_endpoints row id=6109" || p.Column != "context" || !strings.Contains(p.Fix, "pbxtopo conflicts") {
		t.Fatalf("park %+v", p)
	}
	f := fields(t, a, "tpa1/6109").Clone()
	f["context"] = "support"
	if _, err := a.Write(bg, "admin", []store.Mutation{{Table: "extensions", Key: "tpa1/6109", Value: f.AppendBinary(nil), Resolve: []string{"context"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the park cleared", func() bool { return len(br.Status().Parked) == 0 })
	if c := fields(t, a, "tpa1/6109")["context"]; c != "support" {
		t.Fatalf("context %q", c)
	}
}
