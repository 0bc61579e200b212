package ami_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// These tests run apply against a real Asterisk (internal/asterisktest).

// realApplier logs in to the instance and returns an applier on its
// configuration directory and messages log.
func realApplier(t *testing.T, ast *asterisktest.Instance, settle time.Duration) *ami.Applier {
	t.Helper()
	return realApplierLog(t, ast, settle, ast.Messages())
}

// realApplierLog is realApplier reading another log file.
func realApplierLog(t *testing.T, ast *asterisktest.Instance, settle time.Duration, logFile string) *ami.Applier {
	t.Helper()
	conn, err := ami.Dial(ctxT(t), ami.DialConfig{Addr: ast.AMIAddr(), User: ast.AMIUser, Secret: ast.AMISecret,
		Events: "off", Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cfg := ami.DefaultApplyConfig()
	cfg.Dir, cfg.LogFile, cfg.Settle = ast.Etc, logFile, settle
	a, err := ami.NewApplier(cfg, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func readEtc(t *testing.T, ast *asterisktest.Instance, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ast.Etc, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An iax.conf that sets bindport and bindaddr (as every real one does)
// makes chan_iax2 log "Ignoring bindport on reload" on every reload: a
// notice that drops nothing, so the apply is OK and the user is loaded.
func TestAsteriskApplyIAXWithBindport(t *testing.T) {
	ast := asterisktest.Start(t, asterisktest.Options{})
	a := realApplier(t, ast, 300*time.Millisecond)
	iax := readEtc(t, ast, "iax.conf")
	if !strings.Contains(iax, "bindport") {
		t.Fatalf("iax.conf sets no bindport:\n%s", iax)
	}
	iax += "\n[pbxtopo-dundi]\ntype = user\ncontext = default\n"
	res, err := a.Apply(ctxT(t), ami.ApplyRequest{Module: "chan_iax2.so", Files: map[string][]byte{"iax.conf": []byte(iax)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != ami.ApplyOK || res.Backout != nil {
		t.Fatalf("apply of a good iax.conf: %+v", res)
	}
	ast.WaitCLI("iax2 show users", 5*time.Second, func(out string) bool { return strings.Contains(out, "pbxtopo-dundi") })
}

// dundiPeer is a dundi.conf peer section for another instance.
func dundiPeer(peer *asterisktest.Instance) string {
	return "\n[" + peer.EID + "]\nmodel = symmetric\nhost = 127.0.0.1\nport = " + strconv.Itoa(peer.DUNDiPort) +
		"\ninclude = priv\npermit = priv\nqualify = yes\n"
}

// A reload of pbx_dundi during which a peer's reachability changes is
// OK: Asterisk logs "Peer ... has become TOO LAGGED" (or REACHABLE) as a
// notice that drops nothing. The peer here is qualified with a limit of
// 1 ms, which every answer passes, 5 s after the reload that adds it; the
// applier waits for the log to be quiet for 5.5 s, so the notice falls
// inside the reload's window. A line Asterisk drops is still FAILED and
// backed out, a dropped-entry notice ("Ignoring invalid EID entry") too.
func TestAsteriskApplyDUNDiJudgesWhatTheReloadDropped(t *testing.T) {
	t.Parallel()
	a := asterisktest.Start(t, asterisktest.Options{EID: "02:00:00:00:00:0a"})
	b := asterisktest.Start(t, asterisktest.Options{EID: "02:00:00:00:00:0b"})
	b.Append(t, "dundi.conf", dundiPeer(a))
	b.MustCLI("module reload pbx_dundi.so")
	base := readEtc(t, a, "dundi.conf")
	good := base + "priv => dundi-priv-local,0,IAX2,dundi:${SECRET}@127.0.0.1/${NUMBER},nopartial\n" +
		strings.Replace(dundiPeer(b), "qualify = yes", "qualify = 1", 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := realApplier(t, a, 5500*time.Millisecond).Apply(ctx, ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"dundi.conf": []byte(good)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != ami.ApplyOK || !strings.Contains(fmt.Sprint(res.Notices), "TOO LAGGED") {
		t.Fatalf("apply during which a peer became too lagged: %+v", res)
	}
	ap := realApplier(t, a, 300*time.Millisecond)
	// The same with the "full" log, where the loader names the reload's
	// thread.
	full := realApplierLog(t, a, 300*time.Millisecond, filepath.Join(a.Logs, "full"))
	for _, bad := range []struct {
		name, change, want string
		ap                 *ami.Applier
	}{
		{"weight", strings.Replace(good, ",0,IAX2", ",abc,IAX2", 1), "Invalid weight 'abc'", ap},
		{"eid", good + "\n[02:00:00:zz]\nmodel = symmetric\nhost = 127.0.0.1\n", "Ignoring invalid EID entry", ap},
		{"weight in the full log", strings.Replace(good, ",0,IAX2", ",abc,IAX2", 1), "Invalid weight 'abc'", full},
		{"host in the full log", strings.Replace(good, "host = 127.0.0.1", "host = no.such.host.invalid", 1), "getaddrinfo", full},
	} {
		res, err := bad.ap.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"dundi.conf": []byte(bad.change)}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != ami.ApplyFailed || len(res.Problems) == 0 || !strings.Contains(res.Problems[0].Message, bad.want) || res.Backout == nil {
			t.Fatalf("%s: %+v", bad.name, res)
		}
		if got := readEtc(t, a, "dundi.conf"); got != good {
			t.Fatalf("%s: not backed out:\n%s", bad.name, got)
		}
	}
}

// A file whose header comments alone changed (the store version moves
// every few seconds in a live enterprise) is neither written nor reloaded.
func TestAsteriskApplyIgnoresTheHeader(t *testing.T) {
	ast := asterisktest.Start(t, asterisktest.Options{})
	ap := realApplier(t, ast, 300*time.Millisecond)
	body := "[pbxtopo-probe]\nexten => 1,1,NoOp()\n"
	file := func(version string) map[string][]byte {
		return map[string][]byte{"extensions.conf": []byte("; generated by pbxtopo\n; from store version " + version + "\n" +
			readEtc(t, ast, "extensions.conf.orig") + body)}
	}
	orig := readEtc(t, ast, "extensions.conf")
	if err := os.WriteFile(filepath.Join(ast.Etc, "extensions.conf.orig"), []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ap.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_config.so", Files: file("1a2b3c (7 changes)")})
	if err != nil || res.Status != ami.ApplyOK {
		t.Fatalf("first apply: %+v %v", res, err)
	}
	before, _ := os.Stat(filepath.Join(ast.Etc, "extensions.conf"))
	res, err = ap.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_config.so", Files: file("4d5e6f (9 changes)")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != ami.ApplyUnchanged || len(res.Written) != 0 {
		t.Fatalf("apply with a new header only: %+v", res)
	}
	after, _ := os.Stat(filepath.Join(ast.Etc, "extensions.conf"))
	if !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("the file was rewritten")
	}
}

// dundiInclude is how apply makes dundi.conf include a generated file.
var dundiInclude = ami.Include{Main: "dundi.conf", File: "pbxtopo/dundi-pbxtopo.conf", Sections: []string{"general", "mappings"}}

const generatedDUNDi = "; generated\n[mappings](+)\npriv => dundi-priv-local,0,IAX2,dundi:${SECRET}@127.0.0.1/${NUMBER},nopartial\n"

// An #include added before its file existed makes pbx_dundi decline to
// load at start ("Module not initialized" to every Reload): apply writes
// the file, loads the module, and keeps the file.
func TestAsteriskApplyLoadsAModuleThatDeclinedToLoad(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{Append: map[string]string{"dundi.conf": "#include \"pbxtopo/dundi-pbxtopo.conf\"\n"}})
	if out := ast.MustCLI("module show like pbx_dundi"); !strings.Contains(out, "Not Running") {
		t.Fatalf("pbx_dundi runs though its include is missing: %s", out)
	}
	ap := realApplier(t, ast, 300*time.Millisecond)
	res, err := ap.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{dundiInclude.File: []byte(generatedDUNDi)},
		Includes: []ami.Include{dundiInclude}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != ami.ApplyOK || !strings.Contains(res.Note, "declined to load") || res.Backout != nil {
		t.Fatalf("apply: %+v", res)
	}
	if got := readEtc(t, ast, dundiInclude.File); got != generatedDUNDi {
		t.Fatalf("the generated file is %q", got)
	}
	ast.WaitCLI("dundi show mappings", 5*time.Second, func(out string) bool { return strings.Contains(out, "dundi-priv-l") })
}

// Without the include, apply adds it to the end of dundi.conf after the
// file exists, with the [mappings] section the file adds to when
// dundi.conf lacks it; a back-out takes both away again.
func TestAsteriskApplyAddsTheInclude(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{})
	conf := strings.Replace(readEtc(t, ast, "dundi.conf"), "[mappings]\n", "", 1)
	if err := os.WriteFile(filepath.Join(ast.Etc, "dundi.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ast.MustCLI("module reload pbx_dundi.so")
	ap := realApplier(t, ast, 300*time.Millisecond)
	res, err := ap.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{dundiInclude.File: []byte(generatedDUNDi)},
		Includes: []ami.Include{dundiInclude}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != ami.ApplyOK || strings.Join(res.Written, ",") != "pbxtopo/dundi-pbxtopo.conf,dundi.conf" {
		t.Fatalf("apply: %+v", res)
	}
	main := readEtc(t, ast, "dundi.conf")
	if !strings.HasPrefix(main, conf) || !strings.HasSuffix(main, "[mappings]\n#include \"pbxtopo/dundi-pbxtopo.conf\"\n") {
		t.Fatalf("dundi.conf:\n%s", main)
	}
	ast.WaitCLI("dundi show mappings", 5*time.Second, func(out string) bool { return strings.Contains(out, "dundi-priv-l") })
	// The same files again change nothing: the include is there.
	if res, err := ap.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{dundiInclude.File: []byte(generatedDUNDi)},
		Includes: []ami.Include{dundiInclude}}); err != nil || res.Status != ami.ApplyUnchanged {
		t.Fatalf("second apply: %+v %v", res, err)
	}
	if _, err := ap.Backout(ctxT(t), ""); err != nil {
		t.Fatal(err)
	}
	if got := readEtc(t, ast, "dundi.conf"); got != conf {
		t.Fatalf("after the back-out dundi.conf:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(ast.Etc, dundiInclude.File)); !os.IsNotExist(err) {
		t.Fatalf("the generated file is still there: %v", err)
	}
}

// A main file that cannot take the generated file is refused before
// anything is written, with the line to change.
func TestAsteriskApplyRefusesAMainFileThatCannotIncludeIt(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{})
	ap := realApplier(t, ast, 300*time.Millisecond)
	for _, c := range []struct{ main, want string }{
		{"[general]\n#include \"pbxtopo/dundi-pbxtopo.conf\"\n[mappings]\n", "dundi.conf has no [mappings] section before that line: add an empty [mappings] line above it"},
		{"[general]\n[mappings]\n#include \"dundi-pbxtopo.conf\"\n", `dundi.conf line 3 includes "dundi-pbxtopo.conf", but pbxtopo keeps this file at "pbxtopo/dundi-pbxtopo.conf"`},
	} {
		if err := os.WriteFile(filepath.Join(ast.Etc, "dundi.conf"), []byte(c.main), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ap.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{dundiInclude.File: []byte(generatedDUNDi)},
			Includes: []ami.Include{dundiInclude}})
		if !errors.Is(err, ami.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%q: err %v, want %q", c.main, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(ast.Etc, dundiInclude.File)); !os.IsNotExist(err) {
			t.Fatalf("a refused apply wrote the file: %v", err)
		}
	}
}

// A manager user without the system class may not reload: apply says so
// and writes nothing. A module Asterisk does not run is FAILED with what
// to do, and its files stay.
func TestAsteriskApplyPermissionAndMissingModule(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{Append: map[string]string{
		"manager.conf": "\n[reader]\nsecret = reader-secret\nread = system,call\nwrite = reporting\n"}})
	conn, err := ami.Dial(ctxT(t), ami.DialConfig{Addr: ast.AMIAddr(), User: "reader", Secret: "reader-secret", Events: "off", Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := ami.DefaultApplyConfig()
	cfg.Dir, cfg.LogFile, cfg.Settle = ast.Etc, ast.Messages(), 300*time.Millisecond
	reader, err := ami.NewApplier(cfg, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = reader.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"x-pbxtopo.conf": []byte("[x]\n")}})
	if !errors.Is(err, ami.ErrPermission) || !strings.Contains(err.Error(), "write = system") {
		t.Fatalf("apply as a user without system: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ast.Etc, "x-pbxtopo.conf")); !os.IsNotExist(err) {
		t.Fatalf("a refused apply wrote the file: %v", err)
	}
	res, err := realApplier(t, ast, 300*time.Millisecond).Apply(ctxT(t), ami.ApplyRequest{Module: "chan_nosuch.so", Files: map[string][]byte{"nosuch.conf": []byte("[x]\n")}})
	if err != nil || res.Status != ami.ApplyFailed || res.Cause != ami.CauseNotLoaded || res.Backout != nil || !strings.Contains(res.Note, "module load chan_nosuch.so") {
		t.Fatalf("apply for a module Asterisk does not run: %+v %v", res, err)
	}
}

// Phones and trunks whose PJSIP contact is set in pjsip.conf (not
// registered) are not "unregistered": a phone shows "static" (with its
// qualify round trip when it is qualified, "unreachable" when qualify
// fails), a trunk's reachability is its contact's. Qualified contacts
// point at the Asterisk itself, which answers OPTIONS; the dead ones at a
// port where nothing listens.
func TestAsteriskCollectorStaticContacts(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{})
	self := "127.0.0.1:" + strconv.Itoa(ast.SIPPort)
	dead := testnet.FreeAddr(t, "127.0.0.1")
	static := func(name, contact string, qualify bool) string {
		s := "\n[" + name + "]\ntype = endpoint\naors = " + name + "\ncontext = default\n\n[" + name + "]\ntype = aor\ncontact = " + contact + "\n"
		if qualify {
			s += "qualify_frequency = 1\nqualify_timeout = 0.5\n"
		}
		return s
	}
	ast.Append(t, "pjsip.conf", static("5030", "sip:5030@127.0.0.1:5999", false)+static("5031", "sip:5031@"+self, true)+
		static("5032", "sip:5032@"+dead, true)+static("bt", "sip:"+self, true)+static("talktalk", "sip:"+dead, true))
	ast.MustCLI("module reload res_pjsip.so")
	ast.WaitCLI("pjsip show contacts", 10*time.Second, func(out string) bool {
		return strings.Contains(out, "5031/sip:5031@") && strings.Contains(out, "Avail") && strings.Contains(out, "Unavail")
	})

	st := testutil.Store(t, "tpa1")
	put := func(table, key string, f pbx.Fields) store.Mutation {
		return store.Mutation{Table: table, Key: key, Value: f.AppendBinary(nil)}
	}
	var muts []store.Mutation
	muts = append(muts, put("sites", "tpa", pbx.Fields{"name": "tpa"}),
		put("clusters", "tpa1", pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "127.0.0.1", "sip_port": strconv.Itoa(ast.SIPPort)}),
		put("trunks", "tpa1/bt", pbx.Fields{"cluster": "tpa1", "name": "bt", "host": "127.0.0.1", "protocol": "PJSIP"}),
		put("trunks", "tpa1/talktalk", pbx.Fields{"cluster": "tpa1", "name": "talktalk", "host": "127.0.0.2", "protocol": "PJSIP"}))
	for _, ext := range []string{"5030", "5031", "5032"} {
		muts = append(muts, put("extensions", "tpa1/"+ext, pbx.Fields{"cluster": "tpa1", "regexten": ext, "protocol": "PJSIP"}))
	}
	if _, err := st.Write(context.Background(), "test", muts); err != nil {
		t.Fatal(err)
	}
	cc := ami.DefaultClientConfig()
	cc.Addr, cc.User, cc.Secret = ast.AMIAddr(), ast.AMIUser, ast.AMISecret
	c, err := ami.New(testConfig("ast1"), cc, ami.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	runCollector(t, c)
	trunk := func(name string) pbx.Fields {
		f, _ := ami.Decode(statusEntries(t, st, "trunk/tpa1/"+name+"/")[ami.TrunkKey("tpa1", name, "ast1")])
		return f
	}
	deadline := time.Now().Add(10 * time.Second)
	// Wait for every qualify the test checks: under load bt's answer may
	// come after talktalk's timeout.
	for extStatus(t, st, "5031")["lastms"] == "" || extStatus(t, st, "5032")["regstatus"] != "unreachable" ||
		trunk("talktalk")["reachable"] != "unreachable" || trunk("bt")["reachable"] != "reachable" {
		if time.Now().After(deadline) {
			t.Fatalf("static contacts not reported: 5030 %v, 5031 %v, 5032 %v, bt %v, talktalk %v",
				extStatus(t, st, "5030"), extStatus(t, st, "5031"), extStatus(t, st, "5032"), trunk("bt"), trunk("talktalk"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantFields(t, "5030 (static, not qualified)", extStatus(t, st, "5030"), map[string]string{
		"regstatus": "static", "contact": "sip:5030@127.0.0.1:5999", "ipaddr": "127.0.0.1", "port": "5999", "lastms": ""})
	wantFields(t, "5031 (static, qualified)", extStatus(t, st, "5031"), map[string]string{"regstatus": "static", "ipaddr": "127.0.0.1"})
	wantFields(t, "bt", trunk("bt"), map[string]string{"reachable": "reachable", "state": "available"})
	wantFields(t, "talktalk", trunk("talktalk"), map[string]string{"reachable": "unreachable", "state": "unavailable"})
}
