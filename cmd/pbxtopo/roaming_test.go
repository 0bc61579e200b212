package main

import (
	"encoding/csv"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

func TestRoamingReportCommand(t *testing.T) {
	dir := sampleStore(t)
	out := mustRun(t, "roaming", "report", "--data-dir", dir)
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "GROUP") || !strings.Contains(out, "10 numbers, 21 rows, 4 findings") {
		t.Fatalf("report:\n%s", out)
	}
	for _, want := range []string{"TechSupport  tpa2     5200       dundi    5200 (duplicate)  Eddie Chissem      duplicate voicemail, name mismatch, standard number",
		"HR           sfo      5020       dundi    - (home tpa2)     Harold Fisher      -\n",
		"warning   ROAM-DUP-VM:5200\n", "info      ROAM-LOCAL:5101\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var r roaming.Report
	if err := json.Unmarshal([]byte(mustRun(t, "roaming", "report", "--data-dir", dir, "--group", "IT", "-o", "json")), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 12 || r.Rows[0].Extension != "5101" || r.Findings[0].ID != "ROAM-LOCAL:5101" {
		t.Fatalf("IT rows %d first %+v findings %v", len(r.Rows), r.Rows[0], r.Findings)
	}
	recs, err := csv.NewReader(strings.NewReader(mustRun(t, "roaming", "report", "--data-dir", dir, "--site", "lon", "--sort", "name", "-o", "csv"))).ReadAll()
	if err != nil || len(recs) != 5 || strings.Join(recs[0], ",") != strings.Join(roaming.ReportColumns, ",") || recs[1][4] != "Gordon Lock" {
		t.Fatalf("csv %v %v", recs, err)
	}
	if _, errs, code := pbxtopo(t, "roaming", "report", "--data-dir", dir, "--sort", "nme"); code != 1 || !strings.Contains(errs, `did you mean "name"`) {
		t.Fatalf("bad sort: %d %s", code, errs)
	}
}

func TestAuditCommandExitCodesAndAcks(t *testing.T) {
	dir := sampleStore(t)
	out := mustRun(t, "audit", "--data-dir", dir)
	if !strings.Contains(out, "12 findings shown, 0 acknowledged; alerting: 3 critical, 7 warning, 2 info") {
		t.Fatalf("audit:\n%s", out)
	}
	if strings.Contains(out, "hwtMazpRnvuS3VgA") || !strings.Contains(out, "the voicemail PIN is a well-known default") {
		t.Fatal("the audit shows a secret, or not the rule it breaks")
	}
	if _, errs, code := pbxtopo(t, "audit", "--data-dir", dir, "--fail-on", "critical"); code != 1 || !strings.Contains(errs, "3 unacknowledged findings at critical or above") {
		t.Fatalf("--fail-on critical: %d %s", code, errs)
	}
	for _, id := range []string{"SEC-TRUNK-ORPHAN:tpa1:BT", "SEC-ACL-OPEN:providers", "SEC-WEAK-SECRET:tpa2:5102"} {
		mustRun(t, "audit", "ack", "--data-dir", dir, id, "--by", "alice", "--why", "accepted for the test")
	}
	out = mustRun(t, "audit", "--data-dir", dir, "--fail-on", "critical", "--severity", "critical")
	if strings.Count(out, "acknowledged by alice at ") != 3 || !strings.Contains(out, "alerting: 0 critical") {
		t.Fatalf("after acks:\n%s", out)
	}
	if _, _, code := pbxtopo(t, "audit", "--data-dir", dir, "--fail-on", "warning"); code != 1 {
		t.Fatalf("--fail-on warning passed with warnings alerting")
	}
	mustRun(t, "audit", "unack", "--data-dir", dir, "SEC-ACL-OPEN:providers")
	if _, _, code := pbxtopo(t, "audit", "--data-dir", dir, "--fail-on", "critical"); code != 1 {
		t.Fatal("an unacknowledged finding passed --fail-on")
	}
	// A stricter policy from the config keys (here the environment).
	t.Setenv("PBXTOPO_AUDIT_MIN_PIN_LENGTH", "7")
	var res roaming.AuditResult
	json.Unmarshal([]byte(mustRun(t, "audit", "--data-dir", dir, "-o", "json")), &res)
	if res.Alerting["warning"] < 30 {
		t.Fatalf("min PIN 7 from the environment: %v", res.Alerting)
	}
	for args, want := range map[string]string{
		"audit --severity high":                            "use info, warning or critical",
		"audit --fail-on sometimes":                        "--fail-on",
		"audit ack SEC-NOPE:1 --why x":                     "run 'pbxtopo audit'",
		"audit ack SEC-TRUNK-ORPHAN:tpa1:BT extra --why x": "accepts 1 arg(s), received 2",
		"audit unack SEC-NOPE:1":                           "is not acknowledged",
	} {
		if _, errs, code := pbxtopo(t, append(strings.Fields(args), "--data-dir", dir)...); code != 1 || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d %s, want %q", args, code, errs, want)
		}
	}
}

func TestDUNDiConfigCommand(t *testing.T) {
	dir := sampleStore(t)
	out := mustRun(t, "dundi", "config", "--data-dir", dir, "--cluster", "tpa2")
	for _, f := range []string{roaming.DUNDiFile, roaming.ExtensionsFile, roaming.IAXFile} {
		golden, err := os.ReadFile(filepath.Join("..", "..", "roaming", "testdata", "dundi", "tpa2", f))
		if err != nil {
			t.Fatal(err)
		}
		// The golden files carry a fixed version; the bodies must match.
		body := string(golden[strings.Index(string(golden), "\n\n"):])
		if !strings.Contains(out, body) {
			t.Errorf("stdout lacks the body of %s", f)
		}
	}
	outDir := t.TempDir()
	if got := mustRun(t, "dundi", "config", "--data-dir", dir, "--cluster", "tpa2", "--out", outDir); !strings.Contains(got, "tpa2: wrote dundi-pbxtopo.conf, extensions-pbxtopo.conf, iax-pbxtopo.conf") {
		t.Fatalf("--out: %s", got)
	}
	if got := mustRun(t, "dundi", "config", "--data-dir", dir, "--cluster", "tpa2", "--out", outDir); !strings.Contains(got, "tpa2: unchanged") {
		t.Fatalf("second --out: %s", got)
	}
	all := t.TempDir()
	mustRun(t, "dundi", "config", "--data-dir", dir, "--out", all)
	for _, c := range []string{"ams", "lon", "sfo", "tpa1", "tpa2"} {
		if _, err := os.Stat(filepath.Join(all, c, roaming.DUNDiFile)); err != nil {
			t.Error(err)
		}
	}
	if _, errs, code := pbxtopo(t, "dundi", "config", "--data-dir", dir, "--cluster", "nyc"); code != 1 || !strings.Contains(errs, "unknown cluster") {
		t.Fatalf("unknown cluster: %d %s", code, errs)
	}
	if _, errs, code := pbxtopo(t, "dundi", "config", "--data-dir", dir); code != 1 || !strings.Contains(errs, "--cluster") {
		t.Fatalf("no cluster: %d %s", code, errs)
	}
}

// The same commands work against a running agent's HTTP API.
func TestRoamingCommandsThroughTheAPI(t *testing.T) {
	dir := sampleStore(t)
	st, err := store.Open(store.DefaultConfig(storeFile(dir)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(httpapi.Handler(service.NewService(st), nil))
	defer srv.Close()
	if out := mustRun(t, "roaming", "report", "--addr", srv.URL); !strings.Contains(out, "10 numbers, 21 rows, 4 findings") {
		t.Fatalf("report over HTTP:\n%s", out)
	}
	mustRun(t, "audit", "ack", "--addr", srv.URL, "SEC-WEAK-PIN:lon:5021", "--by", "bob", "--why", "user is on leave")
	if out := mustRun(t, "audit", "--addr", srv.URL, "--severity", "warning"); !strings.Contains(out, "acknowledged by bob") {
		t.Fatalf("audit over HTTP:\n%s", out)
	}
	if out := mustRun(t, "dundi", "config", "--addr", srv.URL, "--cluster", "sfo", "-o", "json"); !strings.Contains(out, `"numbers": 7`) {
		t.Fatalf("dundi over HTTP:\n%s", out)
	}
}
