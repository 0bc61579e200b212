package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
	"github.com/pbxtopo/pbxtopo/store"
)

// scriptedAsterisk answers Reload by appending lines to its log file.
func scriptedAsterisk(t *testing.T, logFile string, lines func() []string) *amitest.Server {
	t.Helper()
	srv, err := amitest.NewServer("pbxtopo", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.Handle("Reload", func(s *amitest.Session, req ami.Message) {
		f, _ := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		for _, l := range lines() {
			f.WriteString(l + "\n")
		}
		f.Close()
		s.Reply(req, "Message", "Module Reloaded")
	})
	return srv
}

func TestAMIApplyCommand(t *testing.T) {
	dir := t.TempDir()
	conf, logFile := filepath.Join(dir, "etc"), filepath.Join(dir, "messages")
	os.Mkdir(conf, 0o755)
	os.WriteFile(logFile, nil, 0o644)
	os.WriteFile(filepath.Join(conf, "dundi.conf"), []byte("[mappings]\npriv => dundi-priv-local,0,IAX2,x\n"), 0o644)
	var logLines []string
	srv := scriptedAsterisk(t, logFile, func() []string { return logLines })
	gen := filepath.Join(dir, "dundi.conf")
	args := func(extra ...string) []string {
		return append([]string{"ami", "apply", "--module", "pbx_dundi.so", "--dir", conf, "--log-file", logFile,
			"--ami-addr", srv.Addr, "--ami-user", "pbxtopo", "--ami-secret", "s3cret", "--settle", "50ms"}, extra...)
	}

	os.WriteFile(gen, []byte("[mappings]\npriv => dundi-priv-local,0,IAX2\n"), 0o644)
	logLines = []string{"[2026-11-22 13:55:00.132] WARNING[8711] pbx_dundi.c: Expected at least 4 arguments in map, but got only 3"}
	out, errs, code := pbxtopo(t, args(gen)...)
	if code != 1 || !strings.Contains(out, "pbx_dundi.so: FAILED") || !strings.Contains(out, "Expected at least 4 arguments in map") ||
		!strings.Contains(out, "backed out to the previous files") || !strings.Contains(errs, "the reload FAILED") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "dundi.conf")); !strings.Contains(string(b), "IAX2,x") {
		t.Fatalf("not backed out: %s", b)
	}

	os.WriteFile(gen, []byte("[mappings]\npriv => dundi-priv-local,0,IAX2,dundi:${SECRET}@127.0.0.1:4570/${NUMBER},nopartial\n"), 0o644)
	logLines = nil
	out, errs, code = pbxtopo(t, args("--files", gen, "-o", "json")...)
	var res ami.ApplyResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Status != ami.ApplyOK || len(res.Written) != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	out = mustRun(t, "ami", "backups", "--dir", conf)
	if strings.Count(out, "\n") != 2 {
		t.Fatalf("backups:\n%s", out)
	}

	_, errs, code = pbxtopo(t, "ami", "apply", "--module", "pbx_dundi.so", "--dir", conf, "--ami-addr", srv.Addr,
		"--ami-user", "pbxtopo", "--ami-secret", "wrong", gen)
	if code != 1 || !strings.Contains(errs, "authentication failed") || !strings.Contains(errs, "ami.secret") {
		t.Fatalf("wrong secret: exit %d %s", code, errs)
	}
}

func TestAMICheckCommand(t *testing.T) {
	srv, err := amitest.NewServer("pbxtopo", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Handle("QueueStatus", func(s *amitest.Session, req ami.Message) { s.List(req, nil, "QueueStatusComplete") })
	srv.Handle("SIPpeers", func(s *amitest.Session, req ami.Message) { s.Error(req, "Permission denied") })
	out, errs, code := pbxtopo(t, "ami", "check", "--ami-addr", srv.Addr, "--ami-user", "pbxtopo", "--ami-secret", "s3cret")
	if code != 1 || !strings.Contains(out, "QueueStatus") || !strings.Contains(out, "REFUSED: add write = system,reporting") ||
		!strings.Contains(out, "not available") || !strings.Contains(errs, "1 actions refused") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

func TestStatusCommands(t *testing.T) {
	dir := sampleStore(t)
	srv, err := amitest.NewServer("pbxtopo", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Handle("SIPpeers", func(s *amitest.Session, req ami.Message) {
		s.List(req, []ami.Message{amitest.M("Event", "PeerEntry", "ObjectName", "6101", "IPaddress", "10.1.1.5", "IPport", "5060", "Status", "OK (4 ms)")}, "PeerlistComplete")
	})
	// Run the collector (ami collect) until it has refreshed once.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var out, errb bytes.Buffer
	go func() {
		done <- run(ctx, []string{"ami", "collect", "--data-dir", dir, "--node", "ast16", "--vip", "off", "--flush", "10ms",
			"--ami-addr", srv.Addr, "--ami-user", "pbxtopo", "--ami-secret", "s3cret"}, &out, &errb)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Actions("SIPshowregistry") == 0 { // the refresh's last action
		if time.Now().After(deadline) {
			t.Fatalf("no refresh: %s", errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("collect exit %d: %s", code, errb.String())
	}
	text := mustRun(t, "status", "--data-dir", dir)
	for _, want := range []string{"cluster          : tpa1", "node             : ast16", "Asterisk manager interface stopped",
		"Extensions: 18 configured, 1 registered", "- NOW IN DOWN STATE -"} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	var rep ami.Report
	if err := json.Unmarshal([]byte(mustRun(t, "status", "--data-dir", dir, "-o", "json")), &rep); err != nil || rep.Verdict != "DOWN" {
		t.Fatalf("json report: %+v %v", rep, err)
	}
	if _, _, code := pbxtopo(t, "status", "--data-dir", dir, "--fail"); code != 1 {
		t.Fatalf("--fail with a DOWN verdict: exit %d", code)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(mustRun(t, "status", "extensions", "--data-dir", dir, "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r["regexten"] == "6101" && (r["regstatus"] != "registered" || r["lastms"] != "4" || r["regserver"] != "ast16") {
			t.Fatalf("6101: %v", r)
		}
	}
	table := mustRun(t, "status", "extensions", "--data-dir", dir)
	if !strings.Contains(table, "6101") || !strings.Contains(table, "10.1.1.5") || !strings.HasPrefix(table, "EXT") {
		t.Fatalf("table:\n%s", table)
	}
	// The store's status entries are this node's only.
	st, err := store.Open(func() store.Config { c := store.DefaultConfig(storeFile(dir)); c.ReadOnly = true; return c }())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(func(sn *store.Snapshot) error {
		return sn.Status("", func(k string, _ []byte) error {
			if key, ok := ami.ParseKey(k); !ok || key.Node != "ast16" {
				t.Errorf("status key %q", k)
			}
			return nil
		})
	})
}

func TestAMICollectBadSettings(t *testing.T) {
	dir := sampleStore(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--flush", "often"}, `ami.flush = "often": want a duration`},
		{[]string{"--ami-user", ""}, "ami.user is empty"},
		{[]string{"--refresh", "0s"}, "ami.refresh must be positive"},
	} {
		args := append([]string{"ami", "collect", "--data-dir", dir, "--ami-user", "pbxtopo"}, tc.args...)
		_, errs, code := pbxtopo(t, args...)
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %s", tc.args, code, errs)
		}
	}
	if _, errs, code := pbxtopo(t, "ami", "collect", "--data-dir", t.TempDir(), "--ami-user", "u"); code != 1 || !strings.Contains(errs, "no store in") {
		t.Errorf("empty dir: exit %d %s", code, errs)
	}
}

// TestDundiApplyCommand applies a cluster's generated DUNDi files to a
// scripted Asterisk: three files in pbxtopo/, each included from its main
// file, three modules reloaded in order; a second apply changes nothing;
// a reload Asterisk warns about is backed out and stops the modules after
// it.
func TestDundiApplyCommand(t *testing.T) {
	data := sampleStore(t)
	dir := t.TempDir()
	conf, logFile := filepath.Join(dir, "etc"), filepath.Join(dir, "messages")
	os.Mkdir(conf, 0o755)
	os.WriteFile(logFile, nil, 0o644)
	var logLines []string
	srv := scriptedAsterisk(t, logFile, func() []string { return logLines })
	args := func(extra ...string) []string {
		return append([]string{"dundi", "apply", "--cluster", "tpa1", "--data-dir", data, "--dir", conf, "--log-file", logFile,
			"--ami-addr", srv.Addr, "--ami-user", "pbxtopo", "--ami-secret", "s3cret", "--settle", "50ms"}, extra...)
	}
	out := mustRun(t, args()...)
	for _, want := range []string{"pbx_dundi.so: OK", "chan_iax2.so: OK", "pbx_config.so: OK"} {
		if !strings.Contains(out, want) {
			t.Fatalf("first apply lacks %q:\n%s", want, out)
		}
	}
	if n := srv.Actions("Reload"); n != 3 {
		t.Fatalf("%d reloads, want 3", n)
	}
	b, err := os.ReadFile(filepath.Join(conf, "pbxtopo", "dundi-pbxtopo.conf"))
	if err != nil || !strings.Contains(string(b), "entityid = 02:96:12:7b:0e:fe") {
		t.Fatalf("dundi-pbxtopo.conf: %v\n%s", err, b)
	}
	for main, want := range map[string]string{"dundi.conf": "[general]\n[mappings]\n#include \"pbxtopo/dundi-pbxtopo.conf\"\n",
		"iax.conf": "#include \"pbxtopo/iax-pbxtopo.conf\"\n", "extensions.conf": "#include \"pbxtopo/extensions-pbxtopo.conf\"\n"} {
		if b, _ := os.ReadFile(filepath.Join(conf, main)); !strings.HasSuffix(string(b), want) {
			t.Errorf("%s does not end with %q:\n%s", main, want, b)
		}
	}
	mustRun(t, args()...)
	if n := srv.Actions("Reload"); n != 3 {
		t.Fatalf("an apply without changes reloaded: %d reloads", n)
	}

	os.WriteFile(filepath.Join(conf, "pbxtopo", "dundi-pbxtopo.conf"), []byte("; edited by hand\n"), 0o644)
	logLines = []string{"[2026-11-22 13:55:00.132] WARNING[8711] pbx_dundi.c: Unable to find key 'pbxtopo-sfo' for peer"}
	out, _, code := pbxtopo(t, args()...)
	if code != 1 || !strings.Contains(out, "pbx_dundi.so: FAILED") || strings.Contains(out, "chan_iax2.so") {
		t.Fatalf("failed reload: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "pbxtopo", "dundi-pbxtopo.conf")); string(b) != "; edited by hand\n" {
		t.Fatalf("not backed out: %s", b)
	}
}
