package mysql

import (
	"crypto/md5"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
)

// The shared Asterisk reads what the bridge wrote, over ODBC, from
// Asterisk's own schema: PJSIP endpoints, auths and aors, IAX friends and
// voicemail boxes; a phone registers with the secret pbxtopo wrote.

// startRealtimeAsterisk runs an Asterisk whose PJSIP, IAX and voicemail
// realtime tables are db's.
func startRealtimeAsterisk(t *testing.T, db string) *asterisktest.Instance {
	t.Helper()
	s := needServer(t)
	return asterisktest.Start(t, asterisktest.Options{
		Env: []string{"ODBC_DSN=asterisk", "ODBC_SERVER=127.0.0.1", "ODBC_PORT=" + strconv.Itoa(s.Port),
			"ODBC_DATABASE=" + db, "ODBC_USER=root", "ODBC_PASSWORD="},
		Append: map[string]string{
			"extconfig.conf": "iaxusers => odbc,asterisk,iaxfriends\niaxpeers => odbc,asterisk,iaxfriends\n",
			"acl.conf":       "[internal_phones]\npermit = 127.0.0.0/8\n",
		}})
}

// register sends a REGISTER for user with password (SIPp) from its own
// port and reports SIPp's verdict: nil for a 200.
func register(t *testing.T, ast *asterisktest.Instance, user, password string) error {
	t.Helper()
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("SIPp is missing: apt-get install sip-tester")
	}
	dir := t.TempDir()
	scen := filepath.Join(dir, "register.xml")
	if err := os.WriteFile(scen, []byte(registerScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(testnet.FreeAddr(t, "127.0.0.1"), ":")
	cmd := exec.Command(sipp, "-sf", scen, "-s", user, "-au", user, "-ap", password, "-i", "127.0.0.1", "-p", port,
		"-m", "1", "-timeout", "10s", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		fmt.Sprintf("%s:%d", ast.Bind, ast.SIPPort))
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		return fmt.Errorf("sipp: %v: %s", err, lastLines(string(log)+string(out), 15))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// registerScenario: REGISTER, answer a 401 challenge with -au/-ap, want 200.
const registerScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:[service]@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: 120
Content-Length: 0

]]></send>
  <recv response="401" auth="true" optional="true" next="auth"/>
  <recv response="200" next="done"/>
  <label id="auth"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:[service]@[local_ip]:[local_port]>
[authentication]
Max-Forwards: 70
Expires: 120
Content-Length: 0

]]></send>
  <recv response="200"/>
  <label id="done"/>
</scenario>
`

// Every mapping of the pjsip mapping, read by the real Asterisk: fields
// map right, a phone registers with the secret pbxtopo wrote (a wrong one
// is refused), one with an md5secret registers with the password it
// hashes, an extension without a secret registers without one (no
// dangling auth), a phone that moves replaces its contact, the ACL
// reaches the endpoint, the voicemail box carries the name, an IAX
// extension is an IAX peer.
func TestAsteriskReadsWhatTheBridgeWrote(t *testing.T) {
	db := newAsteriskDB(t)
	ast := startRealtimeAsterisk(t, db)
	a, b := newStore(t, "tpa1"), newStore(t, "tpa2")
	pull(t, b, a)
	startBridge(t, a, testConfig(db, "pjsip"))
	putExt(t, b, "cluster", "tpa1", "regexten", "6110", "name", "Lee Park", "secret", "Lee-pw6110", "context", "support",
		"dtmfmode", "info", "acl", "internal_phones", "nat", "yes", "callerid", `"Lee Park" <6110>`, "mailbox", "6110", "vmsecret", "9931",
		"rtptimeout", "60")
	putExt(t, b, "cluster", "tpa1", "regexten", "6111", "name", "Lobby", "context", "support", "protocol", "PJSIP")
	// chan_sip's md5secret is MD5(user:realm:secret), PJSIP's md5_cred
	// too (realm asterisk, both defaults).
	putExt(t, b, "cluster", "tpa1", "regexten", "6113", "name", "Hashed", "md5secret", fmt.Sprintf("%x", md5.Sum([]byte("6113:asterisk:Md5-pw6113"))),
		"context", "support")
	putExt(t, b, "cluster", "tpa1", "regexten", "6112", "name", "Iax", "secret", "Iax-pw6112", "protocol", "IAX2", "context", "support",
		"type", "friend", "host", "dynamic")
	pull(t, a, b)
	ast.WaitCLI("pjsip show endpoint 6110", 20*time.Second, func(out string) bool {
		return strings.Contains(out, "support") && strings.Contains(out, "6110/6110")
	})
	out := ast.MustCLI("pjsip show endpoint 6110")
	for _, want := range []string{"dtmf_mode", ": info", "rtp_symmetric", "force_rport", "rewrite_contact", "rtp_timeout", ": 60",
		`"Lee Park" <6110>`, "mailboxes", ": 6110"} {
		if !strings.Contains(out, want) {
			t.Errorf("pjsip show endpoint 6110 lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(ast.MustCLI("pjsip show endpoint 6110"), "internal_phones") {
		t.Errorf("the endpoint has no acl internal_phones")
	}
	aor := ast.MustCLI("pjsip show aor 6110")
	if !strings.Contains(aor, "remove_existing") || !strings.Contains(aor, "max_contacts") {
		t.Fatalf("pjsip show aor 6110:\n%s", aor)
	}
	if err := register(t, ast, "6110", "Lee-pw6110"); err != nil {
		t.Fatalf("REGISTER with the secret pbxtopo wrote: %v", err)
	}
	if err := register(t, ast, "6110", "wrong-secret"); err == nil {
		t.Fatal("REGISTER with a wrong secret got 200")
	}
	// The phone moves (another port): its new contact replaces the old.
	if err := register(t, ast, "6110", "Lee-pw6110"); err != nil {
		t.Fatalf("REGISTER of a phone that moved: %v", err)
	}
	// No secret: no auth, and REGISTER is taken (not a 500).
	if err := register(t, ast, "6111", ""); err != nil {
		t.Fatalf("REGISTER of an extension without a secret: %v", err)
	}
	ast.WaitCLI("pjsip show endpoint 6113", 10*time.Second, func(out string) bool { return strings.Contains(out, "6113/6113") })
	if err := register(t, ast, "6113", "Md5-pw6113"); err != nil {
		t.Fatalf("REGISTER of an extension with an md5secret: %v", err)
	}
	if err := register(t, ast, "6113", "wrong-secret"); err == nil {
		t.Fatal("REGISTER with a wrong secret for an md5secret got 200")
	}
	ast.WaitCLI("voicemail show users for default", 10*time.Second, func(out string) bool {
		return strings.Contains(out, "6110") && strings.Contains(out, "Lee Park")
	})
	ast.WaitCLI("iax2 show peer 6112 load", 10*time.Second, func(out string) bool {
		return strings.Contains(out, "6112") && strings.Contains(out, "support")
	})
}
