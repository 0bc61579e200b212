package mysql

import (
	"strings"
	"testing"
)

// Trimmed versions of Asterisk's realtime tables (contrib/ast-db-manage),
// with the columns the mappings use and some Asterisk writes itself.
var (
	sippeersDDL = "CREATE TABLE sippeers (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL UNIQUE, " +
		"ipaddr VARCHAR(45), port INT, regseconds INT, defaultuser VARCHAR(40), fullcontact VARCHAR(80), regserver VARCHAR(20), " +
		"useragent VARCHAR(255), lastms INT, host VARCHAR(40), type ENUM('friend','user','peer'), context VARCHAR(40), " +
		"permit VARCHAR(95), deny VARCHAR(95), secret VARCHAR(40), md5secret VARCHAR(40), " +
		"dtmfmode ENUM('rfc2833','info','shortinfo','inband','auto'), directmedia ENUM('yes','no','nonat','update','outgoing'), " +
		"nat VARCHAR(29), callgroup VARCHAR(40), pickupgroup VARCHAR(40), language VARCHAR(40), disallow VARCHAR(200), " +
		"allow VARCHAR(200), insecure VARCHAR(40), accountcode VARCHAR(40), callerid VARCHAR(40), amaflags VARCHAR(40), " +
		"mailbox VARCHAR(40), `call-limit` INT, fromuser VARCHAR(40), fromdomain VARCHAR(40), qualify VARCHAR(40), " +
		"defaultip VARCHAR(45), rtptimeout INT, rtpholdtimeout INT, callbackextension VARCHAR(40), encryption ENUM('yes','no'), " +
		"musiconhold VARCHAR(100), regexten VARCHAR(40))"
	voicemailDDL = "CREATE TABLE voicemail (uniqueid INT NOT NULL AUTO_INCREMENT PRIMARY KEY, context VARCHAR(80) NOT NULL DEFAULT 'default', " +
		"mailbox VARCHAR(80) NOT NULL, password VARCHAR(80) NOT NULL, fullname VARCHAR(80), email VARCHAR(80), UNIQUE KEY (mailbox))"
	endpointsDDL = "CREATE TABLE ps_endpoints (id VARCHAR(40) NOT NULL PRIMARY KEY, transport VARCHAR(40), aors VARCHAR(200), " +
		"auth VARCHAR(40), context VARCHAR(40), disallow VARCHAR(200), allow VARCHAR(200), direct_media ENUM('yes','no'), " +
		"dtmf_mode ENUM('rfc4733','inband','info','auto','auto_info'), callerid VARCHAR(40), mailboxes VARCHAR(40), " +
		"call_group VARCHAR(40), pickup_group VARCHAR(40), language VARCHAR(40), accountcode VARCHAR(80), from_user VARCHAR(40), " +
		"from_domain VARCHAR(40), moh_suggest VARCHAR(40), permit VARCHAR(95), deny VARCHAR(95), media_encryption ENUM('no','sdes','dtls'))"
	authsDDL = "CREATE TABLE ps_auths (id VARCHAR(40) NOT NULL PRIMARY KEY, auth_type ENUM('md5','userpass'), username VARCHAR(40), " +
		"password VARCHAR(80), realm VARCHAR(40))"
	aorsDDL = "CREATE TABLE ps_aors (id VARCHAR(40) NOT NULL PRIMARY KEY, max_contacts INT, qualify_frequency INT)"
)

// sippeers and voicemail rows make one extension of this cluster; an
// extension written elsewhere becomes rows in both.
func TestSippeersMapping(t *testing.T) {
	db := newDB(t, sippeersDDL, voicemailDDL)
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	startBridge(t, a, testConfig(db, "sippeers"))

	sqlExec(t, db, "INSERT INTO sippeers (name, type, context, secret, dtmfmode, directmedia, callerid, `call-limit`, host) "+
		"VALUES ('6109', 'friend', 'sales', 'Xy7-secret', 'rfc2833', 'no', '\"George\" <6109>', 2, 'dynamic')",
		"INSERT INTO voicemail (context, mailbox, password, fullname) VALUES ('sales', '6109', '4831', 'George')")
	waitFor(t, "the extension with its mailbox", func() bool { return fields(t, a, "tpa1/6109")["vmsecret"] == "4831" })
	f := fields(t, a, "tpa1/6109")
	want := map[string]string{"type": "friend", "context": "sales", "secret": "Xy7-secret", "canreinvite": "no",
		"call-limit": "2", "mailbox": "6109@sales", "protocol": "SIP", "host": "dynamic", "site": "tpa"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q (record %v)", k, f[k], v, f)
		}
	}
	// Asterisk's own registration columns are not configuration.
	sqlExec(t, db, "UPDATE sippeers SET ipaddr = '10.1.1.9', regseconds = 1700000000, useragent = 'Yealink' WHERE name = '6109'")
	sqlExec(t, db, "DELETE FROM voicemail WHERE mailbox = '6109'")
	waitFor(t, "the mailbox removed", func() bool { return fields(t, a, "tpa1/6109")["mailbox"] == "" })
	if f := fields(t, a, "tpa1/6109"); f["ipaddr"] != "" || f["secret"] != "Xy7-secret" {
		t.Fatalf("record %v", f)
	}

	putExt(t, b, "cluster", "tpa1", "regexten", "6110", "name", "Lee", "secret", "Abc-123x", "mailbox", "6110",
		"vmsecret", "9931", "dtmfmode", "info", "canreinvite", "yes")
	putExt(t, b, "cluster", "tpa2", "regexten", "5020", "name", "Not here")
	pull(t, a, b)
	waitFor(t, "the rows of 6110", func() bool {
		return sqlValue(t, db, "SELECT password FROM voicemail WHERE mailbox = '6110'") == "9931"
	})
	got := sqlRows(t, db, "SELECT secret, dtmfmode, directmedia, context FROM sippeers WHERE name = '6110'")
	if len(got) != 1 || got[0][0] != "Abc-123x" || got[0][1] != "info" || got[0][2] != "yes" {
		t.Fatalf("sippeers 6110 = %v", got)
	}
	if ctx := sqlValue(t, db, "SELECT context FROM voicemail WHERE mailbox = '6110'"); ctx != "default" {
		t.Fatalf("voicemail context %q", ctx)
	}
	if n := sqlValue(t, db, "SELECT COUNT(*) FROM sippeers WHERE name = '5020'"); n != "0" {
		t.Fatal("another cluster's extension was written to this cluster's sippeers")
	}
	delExt(t, b, "tpa1/6110")
	pull(t, a, b)
	waitFor(t, "both rows deleted", func() bool {
		return sqlValue(t, db, "SELECT COUNT(*) FROM sippeers WHERE name = '6110'") == "0" &&
			sqlValue(t, db, "SELECT COUNT(*) FROM voicemail WHERE mailbox = '6110'") == "0"
	})
}

// An Asterisk value the pbx model has no place for stops the bridge with
// the table, column and row.
func TestSippeersUnmappableEnum(t *testing.T) {
	db := newDB(t, sippeersDDL, voicemailDDL)
	a := newStore(t, "tpa1")
	br := startBridge(t, a, testConfig(db, "sippeers"))
	sqlExec(t, db, "INSERT INTO sippeers (name, directmedia) VALUES ('6109', 'nonat')")
	waitFor(t, "the bridge to block", func() bool { return br.Status().State == StateBlocked })
	msg := br.Status().LastError
	for _, want := range []string{"sippeers row name=6109", "column directmedia", "nonat"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not name %q", msg, want)
		}
	}
}

// The PJSIP tables: an endpoint, its auth and its aor are one extension.
func TestPJSIPMapping(t *testing.T) {
	db := newDB(t, endpointsDDL, authsDDL, aorsDDL)
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	startBridge(t, a, testConfig(db, "pjsip"))
	sqlExec(t, db, "INSERT INTO ps_endpoints (id, aors, auth, context, dtmf_mode, direct_media, mailboxes) VALUES ('6109', '6109', '6109', 'sales', 'rfc4733', 'no', '6109@sales')",
		"INSERT INTO ps_auths (id, auth_type, username, password) VALUES ('6109', 'userpass', '6109', 'Pj-secret9')",
		"INSERT INTO ps_aors (id, max_contacts) VALUES ('6109', 1)")
	waitFor(t, "the endpoint with its secret", func() bool { return fields(t, a, "tpa1/6109")["secret"] == "Pj-secret9" })
	f := fields(t, a, "tpa1/6109")
	if f["dtmfmode"] != "rfc2833" || f["protocol"] != "PJSIP" || f["authuser"] != "" || f["mailbox"] != "6109@sales" {
		t.Fatalf("record %v", f)
	}
	putExt(t, b, "cluster", "tpa1", "regexten", "6110", "secret", "Other-pw1", "dtmfmode", "rfc2833", "context", "support")
	pull(t, a, b)
	waitFor(t, "the PJSIP rows of 6110", func() bool {
		return sqlValue(t, db, "SELECT password FROM ps_auths WHERE id = '6110'") == "Other-pw1" &&
			sqlValue(t, db, "SELECT max_contacts FROM ps_aors WHERE id = '6110'") == "1"
	})
	got := sqlRows(t, db, "SELECT aors, auth, dtmf_mode, context FROM ps_endpoints WHERE id = '6110'")
	if len(got) != 1 || got[0][0] != "6110" || got[0][1] != "6110" || got[0][2] != "rfc4733" || got[0][3] != "support" {
		t.Fatalf("ps_endpoints 6110 = %v", got)
	}
	if u := sqlValue(t, db, "SELECT username FROM ps_auths WHERE id = '6110'"); u != "6110" {
		t.Fatalf("auth username %q", u)
	}
}
