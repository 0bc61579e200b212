package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// pbxtopo runs one command line in process and returns its outputs.
func pbxtopo(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := pbxtopo(t, args...)
	if code != 0 {
		t.Fatalf("pbxtopo %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// sampleStore imports testdata/enterprise into a new data dir.
func sampleStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, table := range pbx.TableNames() {
		mustRun(t, "import", "--data-dir", dir, "--replica", "tpa1", filepath.Join("..", "..", "testdata", "enterprise", table+".csv"))
	}
	return dir
}

func TestImportListFilterSort(t *testing.T) {
	dir := sampleStore(t)
	out := mustRun(t, "ext", "list", "--data-dir", dir, "--group", "USSales", "--sort", "name")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 12 || !strings.Contains(lines[0], "EXTENSION") || !strings.Contains(lines[1], "Daniela Vale") || !strings.Contains(lines[11], "Sally Phillips") {
		t.Fatalf("USSales by name:\n%s", out)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(mustRun(t, "ext", "list", "--data-dir", dir, "--cluster", "sfo", "--search", "5602", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["name"] != "Gordon Lock" || rows[0]["secret"] != pbx.Redacted {
		t.Fatalf("json rows = %v", rows)
	}
	csv := mustRun(t, "ext", "list", "--data-dir", dir, "--site", "lon", "-o", "csv")
	if !strings.HasPrefix(csv, "id,site,astgroup,cluster,name") || strings.Count(csv, "\n") != 8 {
		t.Fatalf("csv:\n%s", csv)
	}
}

func TestImportIsAllOrNothing(t *testing.T) {
	dir := sampleStore(t)
	before := mustRun(t, "export", "--data-dir", dir)
	bad := filepath.Join(t.TempDir(), "extensions.csv")
	os.WriteFile(bad, []byte("cluster,regexten,name,vmsecret\n"+
		"tpa1,7001,Good One,123987\n"+
		"tpa1,70O2,Bad Number,123987\n"+
		"tpa9,7003,Bad Cluster,123987\n"+
		"tpa1,7004,Long PIN,12345678901234567890123\n"), 0o600)
	out, errs, code := pbxtopo(t, "import", "--data-dir", dir, bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	for _, want := range []string{"3 bad lines, nothing was changed", "line 3: extension 70O2: not a dial string (letters are not allowed)",
		`line 4: extension tpa9/7003: cluster "tpa9" is not defined`, "line 5: extension tpa1/7004: vmsecret is 23 characters, the limit is 22"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if after := mustRun(t, "export", "--data-dir", dir); after != before {
		t.Fatal("a failed import changed the store")
	}
	if _, errs, code := pbxtopo(t, "import", "--data-dir", dir, "--dry-run", bad); code != 1 || !strings.Contains(errs, "line 3") {
		t.Fatalf("dry run: exit %d %s", code, errs)
	}
}

func TestExtAddGetSetRemove(t *testing.T) {
	dir := sampleStore(t)
	mustRun(t, "ext", "add", "--data-dir", dir, "--cluster", "tpa1", "--ext", "6110", "--name", "Ana Ruiz", "--astgroup", "USSales", "--mailbox", "6110", "--roaming", "YES")
	out := mustRun(t, "ext", "get", "--data-dir", dir, "tpa1/6110")
	for _, want := range []string{`Ana Ruiz`, `roaming\s+yes`, `site\s+tpa\n`, `version tpa1\.`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("get lacks %q:\n%s", want, out)
		}
	}
	if _, errs, code := pbxtopo(t, "ext", "add", "--data-dir", dir, "--cluster", "tpa1", "--ext", "6110"); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("duplicate add: %d %s", code, errs)
	}
	mustRun(t, "ext", "set", "--data-dir", dir, "tpa1/6110", "name=Ana M. Ruiz", "mailbox=")
	out = mustRun(t, "ext", "get", "--data-dir", dir, "tpa1/6110", "-o", "json")
	if !strings.Contains(out, `"name": "Ana M. Ruiz"`) || strings.Contains(out, `"mailbox"`) {
		t.Fatalf("after set:\n%s", out)
	}
	if _, errs, code := pbxtopo(t, "ext", "set", "--data-dir", dir, "tpa1/6110", "mailbx=1"); code != 1 || !strings.Contains(errs, `did you mean "mailbox"`) {
		t.Fatalf("set unknown field: %d %s", code, errs)
	}
	mustRun(t, "ext", "rm", "--data-dir", dir, "tpa1/6110")
	if _, errs, code := pbxtopo(t, "ext", "get", "--data-dir", dir, "tpa1/6110"); code != 0 || !strings.Contains(errs+mustRun(t, "ext", "get", "--data-dir", dir, "tpa1/6110"), "was deleted") {
		t.Fatalf("get after rm: %d %s", code, errs)
	}
	if _, errs, code := pbxtopo(t, "ext", "rm", "--data-dir", dir, "tpa1/6110"); code != 1 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("second rm: %d %s", code, errs)
	}
}

func TestBatchDryRunAndApply(t *testing.T) {
	dir := sampleStore(t)
	out, _, code := pbxtopo(t, "ext", "batch", "--data-dir", dir, "--template", "IT", "--cluster", "ams", "--from", "5539", "--to", "5541", "--dry-run")
	if code != 1 || !strings.Contains(out, "INVALID") || !strings.Contains(out, "5540: already exists on cluster sfo and is not roaming") {
		t.Fatalf("invalid batch (exit %d):\n%s", code, out)
	}
	out = mustRun(t, "ext", "batch", "--data-dir", dir, "--template", "USSales", "--cluster", "tpa1", "--from", "6110", "--to", "6114", "--dry-run")
	if !strings.Contains(out, "VALID: 5 extensions") || !strings.Contains(out, "dry run") {
		t.Fatalf("valid dry run:\n%s", out)
	}
	if list := mustRun(t, "ext", "list", "--data-dir", dir, "--search", "6111"); strings.Contains(list, "6111") {
		t.Fatal("dry run created extensions")
	}
	out = mustRun(t, "ext", "batch", "--data-dir", dir, "--template", "USSales", "--cluster", "tpa1", "--from", "6110", "--to", "6114")
	if !strings.Contains(out, "created 5 extensions") {
		t.Fatalf("apply:\n%s", out)
	}
	if list := mustRun(t, "ext", "list", "--data-dir", dir, "--cluster", "tpa1", "--group", "USSales"); strings.Count(list, "\n") != 15 {
		t.Fatalf("after batch:\n%s", list)
	}
}

func TestHistoryAndRevert(t *testing.T) {
	dir := sampleStore(t)
	mustRun(t, "ext", "set", "--data-dir", dir, "tpa1/6109", "mailbox=6109")
	mustRun(t, "ext", "set", "--data-dir", dir, "tpa1/6109", "name=G. Lopez")
	out := mustRun(t, "history", "--data-dir", dir, "extensions/tpa1/6109")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "created") || !strings.Contains(lines[2], `mailbox "8109"→"6109"`) || !strings.Contains(lines[3], `name "George Lopez"→"G. Lopez"`) {
		t.Fatalf("history:\n%s", out)
	}
	change := strings.Fields(lines[2])[0]
	out = mustRun(t, "revert", "--data-dir", dir, change)
	if !strings.Contains(out, "reverted "+change) {
		t.Fatalf("revert: %s", out)
	}
	got := mustRun(t, "ext", "get", "--data-dir", dir, "tpa1/6109", "-o", "json")
	// The fields the change set come back; the name, changed since, stays.
	if !strings.Contains(got, `"mailbox": "8109"`) || !strings.Contains(got, `"name": "G. Lopez"`) {
		t.Fatalf("after revert:\n%s", got)
	}
	if _, errs, code := pbxtopo(t, "revert", "--data-dir", dir, "nonsense"); code != 1 || !strings.Contains(errs, "want STREAM:SEQ") {
		t.Fatalf("bad id: %d %s", code, errs)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	dir := sampleStore(t)
	other := t.TempDir()
	for _, table := range pbx.TableNames() {
		for _, format := range []string{"csv", "json"} {
			file := filepath.Join(t.TempDir(), table+"."+format)
			os.WriteFile(file, []byte(mustRun(t, "export", "--data-dir", dir, "--table", table, "-o", format)), 0o600)
			mustRun(t, "import", "--data-dir", other, "--replica", "sfo", file)
		}
		if a, b := mustRun(t, "export", "--data-dir", dir, "--table", table), mustRun(t, "export", "--data-dir", other, "--table", table); a != b {
			t.Fatalf("%s differs after export and import:\n%s\n---\n%s", table, a, b)
		}
	}
}

func TestOfflineRules(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := pbxtopo(t, "ext", "list", "--data-dir", dir); code != 1 || !strings.Contains(errs, "no store in") {
		t.Fatalf("list of empty dir: %d %s", code, errs)
	}
	if _, errs, code := pbxtopo(t, "import", "--data-dir", dir, "../../testdata/enterprise/sites.csv"); code != 1 || !strings.Contains(errs, "--replica") {
		t.Fatalf("import without replica: %d %s", code, errs)
	}
	dir = sampleStore(t)
	cfg := store.DefaultConfig(storeFile(dir))
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.MarkAgent()
	st.Close()
	if _, errs, code := pbxtopo(t, "ext", "rm", "--data-dir", dir, "tpa1/6109"); code != 1 || !strings.Contains(errs, "an agent has run on") {
		t.Fatalf("offline write after agent: %d %s", code, errs)
	}
	mustRun(t, "ext", "list", "--data-dir", dir) // reading is fine
	if _, errs, code := pbxtopo(t, "ext", "list"); code != 1 || !strings.Contains(errs, "--addr") {
		t.Fatalf("no backend: %d %s", code, errs)
	}
	if _, errs, code := pbxtopo(t, "ext", "list", "--data-dir", dir, "-o", "yaml"); code != 1 || !strings.Contains(errs, "unknown output format") {
		t.Fatalf("bad format: %d %s", code, errs)
	}
}

func TestImportProgressLines(t *testing.T) {
	dir := sampleStore(t)
	var b strings.Builder
	b.WriteString("cluster,regexten,name,astgroup\n")
	for i := 0; i < 40000; i++ {
		b.WriteString("tpa1,")
		b.WriteString(strings.Repeat("7", 1))
		b.WriteString(padNum(i))
		b.WriteString(",Some Long Name For The Progress Test,USSales\n")
	}
	file := filepath.Join(t.TempDir(), "big.csv")
	os.WriteFile(file, []byte(b.String()), 0o600)
	out, errs, code := pbxtopo(t, "import", "--data-dir", dir, "--table", "extensions", file)
	if code != 0 || !strings.Contains(out, "imported 40000 records") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	// Not a terminal: a few plain lines, no carriage returns.
	if strings.Contains(errs, "\r") || !strings.Contains(errs, "big.csv: read") || !strings.Contains(errs, "big.csv: write") {
		t.Fatalf("progress:\n%q", errs)
	}
}

func padNum(i int) string {
	s := strings.Repeat("0", 5)
	n := []byte(s)
	for j := len(n) - 1; j >= 0 && i > 0; j-- {
		n[j] = byte('0' + i%10)
		i /= 10
	}
	return string(n)
}

func TestExtMove(t *testing.T) {
	dir := sampleStore(t)
	out := mustRun(t, "ext", "move", "tpa1/6109", "--to", "lon", "--data-dir", dir)
	if !strings.Contains(out, "moved extension tpa1/6109 to lon/6109") {
		t.Fatalf("move: %s", out)
	}
	if out := mustRun(t, "ext", "get", "tpa1/6109", "--data-dir", dir); !strings.Contains(out, "extension tpa1/6109 was deleted") {
		t.Fatalf("tpa1/6109 after the move: %s", out)
	}
	if out := mustRun(t, "history", "extensions/lon/6109", "--data-dir", dir); !strings.Contains(out, "(move tpa1/6109 → lon/6109)") {
		t.Fatalf("history of lon/6109:\n%s", out)
	}
	if _, errs, code := pbxtopo(t, "ext", "move", "lon/6109", "--data-dir", dir); code != 1 || !strings.Contains(errs, "--to") {
		t.Fatalf("move without --to: exit %d %s", code, errs)
	}
}
