package ami_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
)

// reloadCases reads testdata/dundi-reload-log.txt: the log lines real
// Asterisk wrote for each kind of bad dundi.conf line.
func reloadCases(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("testdata/dundi-reload-log.txt")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{}
	name := ""
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			name = strings.TrimPrefix(l, "## ")
			cases[name] = nil
		case name != "" && strings.HasPrefix(l, "["):
			cases[name] = append(cases[name], l)
		}
	}
	if len(cases) < 10 {
		t.Fatalf("only %d cases in testdata", len(cases))
	}
	return cases
}

// reloader is a scripted Asterisk whose Reload writes the configured log
// lines to its log file, as Asterisk's logger does, and answers success.
type reloader struct {
	*amitest.Server
	log     string
	mu      sync.Mutex
	lines   []string
	answer  string // an error answer instead of success
	reloads []string
}

func newReloader(t *testing.T, dir string) *reloader {
	r := &reloader{Server: newServer(t), log: filepath.Join(dir, "messages.log")}
	os.WriteFile(r.log, []byte("[2026-11-22 13:50:00.000] NOTICE[100] chan_sip.c: an old line before the reload\n"), 0o644)
	r.Handle("Reload", func(s *amitest.Session, req ami.Message) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.reloads = append(r.reloads, req.Get("Module"))
		if r.answer != "" {
			s.Error(req, r.answer)
			return
		}
		f, _ := os.OpenFile(r.log, os.O_APPEND|os.O_WRONLY, 0)
		for _, l := range r.lines {
			f.WriteString(l + "\n")
		}
		f.Close()
		s.Reply(req, "Message", "Module Reloaded")
	})
	return r
}

func (r *reloader) set(lines []string, answer string) {
	r.mu.Lock()
	r.lines, r.answer = lines, answer
	r.mu.Unlock()
}

func newApplier(t *testing.T, r *reloader, confDir string, backout bool) *ami.Applier {
	t.Helper()
	conn := dial(t, r.Server, nil)
	cfg := ami.DefaultApplyConfig()
	cfg.Dir, cfg.LogFile, cfg.Settle, cfg.BackoutOnFailure = confDir, r.log, 50e6, backout
	a, err := ami.NewApplier(cfg, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const goodDundi = "[general]\nentityid = 02:00:00:00:00:0a\n[mappings]\npriv => dundi-priv-local,0,IAX2,dundi:${SECRET}@127.0.0.1:4570/${NUMBER},nopartial\n"

func TestApplyReportsWhatAsteriskLogged(t *testing.T) {
	for name, lines := range reloadCases(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "etc")
			os.Mkdir(conf, 0o755)
			os.WriteFile(filepath.Join(conf, "dundi.conf"), []byte(goodDundi), 0o640)
			r := newReloader(t, dir)
			r.set(lines, "")
			a := newApplier(t, r, conf, false)
			res, err := a.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"dundi.conf": []byte(goodDundi + "; " + name + "\n")}})
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) == 0 {
				// Asterisk accepts an unknown tech or [general] key silently:
				// nothing in its answer or log says otherwise.
				if res.Status != ami.ApplyOK {
					t.Fatalf("silent case: %+v", res)
				}
				return
			}
			if res.Status != ami.ApplyFailed || len(res.Problems) != len(lines) || res.Answer != "Module Reloaded" {
				t.Fatalf("status %s, %d problems (want %d), answer %q: %+v", res.Status, len(res.Problems), len(lines), res.Answer, res)
			}
			for i, p := range res.Problems {
				if !strings.Contains(lines[i], p.Message) || p.Thread == 0 {
					t.Errorf("problem %d = %+v, want the line %q", i, p, lines[i])
				}
			}
		})
	}
}

func TestApplyWritesBacksUpAndBacksOut(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "etc")
	os.Mkdir(conf, 0o755)
	os.WriteFile(filepath.Join(conf, "dundi.conf"), []byte(goodDundi), 0o600)
	r := newReloader(t, dir)
	a := newApplier(t, r, conf, true)
	ctx := ctxT(t)

	// Another module's warning meanwhile does not fail the reload.
	r.set([]string{"[2026-11-22 14:00:00.000] WARNING[9001] chan_pjsip.c: Endpoint 5020 is unreachable"}, "")
	v2 := goodDundi + "; v2\n"
	res, err := a.Apply(ctx, ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{
		"dundi.conf": []byte(v2), "extensions_dundi.conf": []byte("[dundi-priv-local]\nexten => 5020,1,Dial(PJSIP/5020)\n")}})
	if err != nil || res.Status != ami.ApplyOK || len(res.Other) != 1 || len(res.Written) != 2 || res.Backup == "" {
		t.Fatalf("apply v2: %+v %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "dundi.conf")); string(b) != v2 {
		t.Fatalf("dundi.conf = %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(conf, "dundi.conf")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want the old file's 0600", fi.Mode())
	}
	ents, _ := os.ReadDir(conf)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".conf.pbxtopo-") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
	// The same files again: nothing to do, no reload.
	res, _ = a.Apply(ctx, ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"dundi.conf": []byte(v2)}})
	if res.Status != ami.ApplyUnchanged || len(r.reloads) != 1 {
		t.Fatalf("unchanged apply: %+v, reloads %v", res, r.reloads)
	}
	// A reload with warnings: FAILED, and backed out to v2.
	r.set([]string{
		"[2026-11-22 14:01:00.000] ERROR[8839] netsock2.c: getaddrinfo(\"no.such.host.invalid\", \"(null)\", ...): Name or service not known",
		"[2026-11-22 14:01:00.000] WARNING[8839] pbx_dundi.c: Unable to find host 'no.such.host.invalid' at line 21",
	}, "")
	res, err = a.Apply(ctx, ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"dundi.conf": []byte(goodDundi + "host = no.such.host.invalid\n")}})
	if err != nil || res.Status != ami.ApplyFailed || len(res.Problems) != 2 || res.Backout == nil {
		t.Fatalf("bad apply: %+v %v", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "dundi.conf")); string(b) != v2 {
		t.Fatalf("after the back-out dundi.conf = %q, want v2", b)
	}
	if res.Backout.Status != ami.ApplyFailed { // the scripted reload logs the same lines again
		t.Logf("back-out: %+v", res.Backout)
	}
	// A manual back-out of the first apply removes the file it created.
	ids, _ := a.Backups()
	if len(ids) != 2 {
		t.Fatalf("backups %v", ids)
	}
	r.set(nil, "")
	bo, err := a.Backout(ctx, ids[1])
	if err != nil || bo.Status != ami.ApplyOK {
		t.Fatalf("backout: %+v %v", bo, err)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "dundi.conf")); string(b) != goodDundi {
		t.Fatalf("dundi.conf = %q, want the original", b)
	}
	if _, err := os.Stat(filepath.Join(conf, "extensions_dundi.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("extensions_dundi.conf still there: %v", err)
	}
	if strings.Join(r.reloads, ",") != "pbx_dundi.so,pbx_dundi.so,pbx_dundi.so,pbx_dundi.so" {
		t.Fatalf("reloads %v", r.reloads)
	}
}

func TestApplyRefusalsAndUnverified(t *testing.T) {
	dir := t.TempDir()
	r := newReloader(t, dir)
	a := newApplier(t, r, dir, false)
	ctx := ctxT(t)
	for _, req := range []ami.ApplyRequest{
		{Module: "pbx_dundi.so", Files: map[string][]byte{"../passwd": []byte("x")}},
		{Module: "pbx_dundi.so", Files: map[string][]byte{"a/b/dundi.conf": []byte("x")}},
		{Module: "pbx_dundi.so", Files: map[string][]byte{"/etc/passwd": []byte("x")}},
		{Module: "pbx_dundi.so", Files: map[string][]byte{"sub/../../x": []byte("x")}},
		{Module: "pbx_dundi.so", Files: map[string][]byte{"x.conf": []byte("x")}, Includes: []ami.Include{{Main: "dundi.conf", File: "y.conf"}}},
		{Module: "pbx_dundi.so; core stop now", Files: map[string][]byte{"dundi.conf": []byte("x")}},
		{Module: "pbx_dundi.so"},
	} {
		if _, err := a.Apply(ctx, req); !errors.Is(err, ami.ErrInvalid) {
			t.Errorf("%+v: err %v, want ErrInvalid", req, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dundi.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused apply wrote a file")
	}
	r.set(nil, "No such module")
	res, err := a.Apply(ctx, ami.ApplyRequest{Module: "pbx_nope.so", Files: map[string][]byte{"nope.conf": []byte("x")}})
	if err != nil || res.Status != ami.ApplyFailed || res.Answer != "No such module" {
		t.Fatalf("refused reload: %+v %v", res, err)
	}
	r.set(nil, "")
	os.Remove(r.log)
	res, err = a.Apply(ctx, ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"dundi.conf": []byte("x")}})
	if err != nil || res.Status != ami.ApplyUnverified || !strings.Contains(res.Note, "ami.log_file") {
		t.Fatalf("without a log: %+v %v", res, err)
	}
}

func TestClassifyReload(t *testing.T) {
	// A "full" log: the loader names the reload's thread.
	text := `[Nov 22 13:55:04] VERBOSE[8839] loader.c: Reloading module 'pbx_dundi.so' (Distributed Universal Number Discovery (DUNDi))
[Nov 22 13:55:04] ERROR[8839] netsock2.c: getaddrinfo("x.invalid", "(null)", ...): Name or service not known
[Nov 22 13:55:04] WARNING[8840][C-0000002a] chan_sip.c: Retransmission timeout reached
[Nov 22 13:55:04] NOTICE[8839]: pbx_dundi.c:4719 build_peer: Ignoring invalid EID entry '02:00:00:zz'
  a continuation line
[Nov 22 13:55:04] WARNING[8900] config.c: No '=' (equal sign) in line 3 of /etc/asterisk/sip.conf
[Nov 22 13:55:04] WARNING[8801] pbx_dundi.c: PJSIP calls require an endpoint to be specified explicitly
[Nov 22 13:55:04] WARNING[8801] pbx_dundi.c: some other warning of the network thread
[Nov 22 13:55:05] NOTICE[8802] pbx_dundi.c: Peer '02:00:00:00:00:0b' has become REACHABLE!
`
	lines := ami.ParseLog(text)
	if len(lines) != 8 || lines[3].Source != "pbx_dundi.c" || !strings.HasSuffix(lines[3].Message, "a continuation line") {
		t.Fatalf("parsed %+v", lines)
	}
	r := ami.ClassifyReload(lines, "pbx_dundi.so", []string{"dundi.conf"})
	if len(r.Problems) != 2 || r.Problems[0].Source != "netsock2.c" || r.Problems[1].Level != "NOTICE" {
		t.Fatalf("problems %+v", r.Problems)
	}
	if len(r.Other) != 4 || len(r.Notices) != 1 {
		t.Fatalf("other %+v, notices %+v", r.Other, r.Notices)
	}
	// "messages" (no verbose lines): the module's lines are the reload's,
	// but for what it logs at run time.
	var messages []ami.LogLine
	for _, l := range lines {
		if l.Level != "VERBOSE" {
			messages = append(messages, l)
		}
	}
	r = ami.ClassifyReload(messages, "pbx_dundi.so", []string{"dundi.conf"})
	if len(r.Problems) != 3 || r.Problems[1].Level != "NOTICE" || r.Problems[2].Message != "some other warning of the network thread" {
		t.Fatalf("messages-only problems %+v", r.Problems)
	}
	if len(r.Other) != 3 || len(r.Notices) != 1 {
		t.Fatalf("messages-only other %+v, notices %+v", r.Other, r.Notices)
	}
}

func FuzzParseLog(f *testing.F) {
	f.Add("[2026-11-22 13:55:00.132] WARNING[8711] pbx_dundi.c: Expected at least 4 arguments\n")
	f.Add("[x] NOTICE[1]: a.c:12 fn: m\ncont\n")
	f.Fuzz(func(t *testing.T, text string) {
		lines := ami.ParseLog(text)
		if len(lines) > strings.Count(text, "\n")+1 {
			t.Fatalf("%d lines from %d", len(lines), strings.Count(text, "\n")+1)
		}
		ami.ClassifyReload(lines, "pbx_dundi.so", []string{"dundi.conf"})
	})
}

func TestApplyLock(t *testing.T) {
	dir := t.TempDir()
	r := newReloader(t, dir)
	a := newApplier(t, r, dir, false)
	b := newApplier(t, r, dir, false)
	// Hold a's lock through a reload that waits for the test.
	release := make(chan struct{})
	entered := make(chan struct{})
	r.Handle("Reload", func(s *amitest.Session, req ami.Message) {
		close(entered)
		<-release
		s.Reply(req, "Message", "Module Reloaded")
	})
	done := make(chan error)
	go func() {
		_, err := a.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"dundi.conf": []byte("a")}})
		done <- err
	}()
	<-entered
	_, err := b.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{"dundi.conf": []byte("b")}})
	close(release)
	if !errors.Is(err, ami.ErrInvalid) || !strings.Contains(err.Error(), "another apply") {
		t.Fatalf("concurrent apply: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// When Asterisk cannot be asked after the files were written (the
// session dropped), the previous files are put back: the next apply finds
// the change again and reloads.
func TestApplyPutsFilesBackWhenAsteriskCannotBeAsked(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dundi.conf"), []byte(goodDundi), 0o640)
	r := newReloader(t, dir)
	a := newApplier(t, r, dir, true)
	r.Handle("Reload", func(s *amitest.Session, req ami.Message) { s.Close() })
	_, err := a.Apply(ctxT(t), ami.ApplyRequest{Module: "pbx_dundi.so", Files: map[string][]byte{
		"dundi.conf": []byte(goodDundi + "; v2\n"), "pbxtopo/new.conf": []byte("[x]\n")}})
	if err == nil {
		t.Fatal("an apply whose reload was never answered succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dundi.conf")); string(b) != goodDundi {
		t.Fatalf("dundi.conf not put back: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "pbxtopo", "new.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the new file is still there: %v", err)
	}
}
