package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// leafCommands returns every command that runs, by path, cobra's own
// (help, completion) left out.
func leafCommands() map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !ours(sub) {
				continue
			}
			if _, declared := outputFormats[commandPath(sub)]; declared || !sub.HasSubCommands() {
				out[commandPath(sub)] = sub
			}
			walk(sub)
		}
	}
	root := (&app{v: viper.New()}).rootCmd()
	walk(root)
	return out
}

// contractEnv is what the command lines of the contract test run
// against: a live agent of cluster tpa1 holding the sample enterprise, an
// offline store of it with conflicts, and scratch space.
type contractEnv struct {
	addr     string // the agent's API
	dir      string // an offline store (tpa1) with three records in conflict
	tmp      string
	findings []string // audit finding ids of the offline store
	changes  []string // change ids of extensions/tpa1/6105 in the offline store
	conflict []string // the records in conflict
	backup   string   // a backup file of the offline store
	lookup   string   // a DUNDi peer's address
}

func (e *contractEnv) path(name string) string { return filepath.Join(e.tmp, name) }

// invocation is how the contract test runs one command in one format:
// the command line (without -o), or why it does not run here.
type invocation struct {
	args func(e *contractEnv, format string) []string
	skip string // the command is not run here, only its refusals checked
	code int    // the exit code it ends with (0 unless said)
}

func argv(args ...string) func(*contractEnv, string) []string {
	return func(*contractEnv, string) []string { return args }
}

// n returns a distinct number for each format, so that writes in
// different formats do not collide.
func n(format string, base int) string {
	return strconv.Itoa(base + 10*slices.Index(formatsOrder, format))
}

var invocations = map[string]invocation{
	"agent":       {args: argv("agent", "--config", "none.yaml"), skip: "runs until stopped (the end-to-end tests run real agents)"},
	"ami apply":   {args: argv("ami", "apply", "--module", "pbx_dundi.so", "f.conf"), skip: "needs an Asterisk (TestAMIApplyCommand, TestAsteriskAMIMessages)"},
	"ami backout": {args: argv("ami", "backout"), skip: "needs an Asterisk (TestAMIApplyCommand)"},
	"ami backups": {args: func(e *contractEnv, f string) []string { return []string{"ami", "backups", "--dir", e.tmp} }},
	"ami check":   {args: argv("ami", "check"), skip: "needs an Asterisk manager interface (TestAMICheckCommand)"},
	"ami collect": {args: argv("ami", "collect", "--data-dir", "x"), skip: "runs until stopped (TestStatusCommands)"},
	"audit":       {args: func(e *contractEnv, f string) []string { return []string{"audit", "--data-dir", e.dir} }},
	"audit ack": {args: func(e *contractEnv, f string) []string {
		return []string{"audit", "ack", e.findings[slices.Index(formatsOrder, f)], "--why", "accepted in the contract test", "--data-dir", e.dir}
	}},
	"audit unack": {args: func(e *contractEnv, f string) []string {
		return []string{"audit", "unack", e.findings[slices.Index(formatsOrder, f)], "--data-dir", e.dir}
	}},
	"backup": {args: func(e *contractEnv, f string) []string {
		return []string{"backup", e.path("backup-" + f), "--addr", e.addr}
	}},
	"bench":          {args: argv("bench", "store"), skip: "measures for minutes (make bench)"},
	"chaos net":      {args: argv("chaos", "net"), skip: "needs root and network namespaces (make chaos-net)"},
	"chaos run":      {args: argv("chaos", "run", "--clusters", "3", "--duration", "2s", "--seed", "3")},
	"conflicts list": {args: func(e *contractEnv, f string) []string { return []string{"conflicts", "list", "--data-dir", e.dir} }},
	"conflicts show": {args: func(e *contractEnv, f string) []string {
		return []string{"conflicts", "show", e.conflict[2], "--data-dir", e.dir} // resolve takes the others first
	}},
	"conflicts resolve": {args: func(e *contractEnv, f string) []string {
		return []string{"conflicts", "resolve", e.conflict[slices.Index(formatsOrder, f)], "--take", "sfo", "--data-dir", e.dir}
	}},
	"demo":          {args: argv("demo"), skip: "runs until stopped (TestDocsRun runs the demo's enterprise)"},
	"demo asterisk": {args: argv("demo", "asterisk"), skip: "runs until stopped (TestDemoAsteriskDiesBesideLiveAgent)"},
	"dns zone":      {args: func(e *contractEnv, f string) []string { return []string{"dns", "zone", "--addr", e.addr} }},
	"dundi apply":   {args: argv("dundi", "apply", "--cluster", "tpa1"), skip: "needs an Asterisk (TestDundiApplyCommand)"},
	"dundi config": {args: func(e *contractEnv, f string) []string {
		return []string{"dundi", "config", "--cluster", "tpa1", "--data-dir", e.dir}
	}},
	"dundi keys create": {args: func(e *contractEnv, f string) []string {
		return []string{"dundi", "keys", "create", "--cluster", "tpa1", "--dir", e.path("keys-" + f)}
	}},
	"dundi keys rotate": {args: func(e *contractEnv, f string) []string {
		return []string{"dundi", "keys", "rotate", "--cluster", "tpa1", "--dir", e.path("keys-" + f)}
	}},
	"dundi lookup": {args: func(e *contractEnv, f string) []string {
		return []string{"dundi", "lookup", "6109@priv", "--peer", e.lookup, "--eid", "02:00:00:00:00:0b"}
	}},
	"export": {args: func(e *contractEnv, f string) []string {
		return []string{"export", "--table", "sites", "--data-dir", e.dir}
	}},
	"ext add": {args: func(e *contractEnv, f string) []string {
		return []string{"ext", "add", "--cluster", "tpa1", "--ext", n(f, 7100), "--name", "Contract Test", "--astgroup", "USSales",
			"--context", "USSales1", "--acl", "internal_phones", "--data-dir", e.dir}
	}},
	"ext batch": {args: func(e *contractEnv, f string) []string {
		return []string{"ext", "batch", "--template", "USSales", "--cluster", "tpa1", "--from", n(f, 7200), "--to", n(f, 7201), "--data-dir", e.dir}
	}},
	"ext get": {args: func(e *contractEnv, f string) []string {
		return []string{"ext", "get", "tpa1/6109", "--data-dir", e.dir}
	}},
	"ext list": {args: func(e *contractEnv, f string) []string {
		return []string{"ext", "list", "--group", "IT", "--data-dir", e.dir}
	}},
	"ext move": {args: func(e *contractEnv, f string) []string {
		return []string{"ext", "move", "tpa1/" + n(f, 7200), "--to", "lon", "--data-dir", e.dir}
	}},
	"ext rm": {args: func(e *contractEnv, f string) []string {
		return []string{"ext", "rm", "tpa1/" + n(f, 7100), "--data-dir", e.dir}
	}},
	"ext set": {args: func(e *contractEnv, f string) []string {
		return []string{"ext", "set", "tpa1/6109", "name=Set " + f, "--data-dir", e.dir}
	}},
	"gossip keygen": {args: argv("gossip", "keygen")},
	"gossip keys":   {args: func(e *contractEnv, f string) []string { return []string{"gossip", "keys", "list", "--addr", e.addr} }},
	"history": {args: func(e *contractEnv, f string) []string {
		return []string{"history", "extensions/tpa1/6105", "--data-dir", e.dir}
	}},
	"hours dialplan": {args: func(e *contractEnv, f string) []string {
		return []string{"hours", "dialplan", "USSales", "--data-dir", e.dir}
	}},
	"hours now": {args: func(e *contractEnv, f string) []string {
		return []string{"hours", "now", "USSales", "--data-dir", e.dir}
	}},
	"import": {args: func(e *contractEnv, f string) []string {
		return []string{"import", filepath.Join("..", "..", "testdata", "enterprise", "sites.csv"), "--data-dir", e.dir}
	}},
	"members":     {args: func(e *contractEnv, f string) []string { return []string{"members", "--addr", e.addr} }},
	"raft remove": {args: argv("raft", "remove", "tpa1-9"), skip: "would remove a voter of a live cluster (TestRaftRemoveUnknownNode checks the refusal)"},
	"raft status": {args: func(e *contractEnv, f string) []string { return []string{"raft", "status", "--addr", e.addr} }},
	"repl decommission": {args: func(e *contractEnv, f string) []string {
		return []string{"repl", "decommission", []string{"ams", "lon", "sfo"}[slices.Index(formatsOrder, f)], "--force", "--addr", e.addr}
	}},
	"repl promote": {args: func(e *contractEnv, f string) []string {
		return []string{"repl", "promote", "tpa1", "--force", "--addr", e.addr}
	}},
	"repl status": {args: func(e *contractEnv, f string) []string { return []string{"repl", "status", "--addr", e.addr} }},
	"repl topology": {args: func(e *contractEnv, f string) []string {
		if f == "table" {
			return []string{"repl", "topology", "--addr", e.addr}
		}
		return []string{"repl", "topology", "--mode", "mesh", "--addr", e.addr}
	}},
	// tpa1 runs alone: the other clusters of the sample are unreachable.
	"repl verify": {args: func(e *contractEnv, f string) []string { return []string{"repl", "verify", "--addr", e.addr} }, code: 1},
	"restore": {args: func(e *contractEnv, f string) []string {
		return []string{"restore", e.backup, "--data-dir", e.path("restore-" + f)}
	}},
	"revert": {args: func(e *contractEnv, f string) []string {
		return []string{"revert", e.changes[slices.Index(formatsOrder, f)], "--data-dir", e.dir}
	}},
	"roaming report": {args: func(e *contractEnv, f string) []string { return []string{"roaming", "report", "--data-dir", e.dir} }},
	"secrets new-key": {args: func(e *contractEnv, f string) []string {
		return []string{"secrets", "new-key", "--key-file", e.path("secrets-" + f + ".key")}
	}},
	"secrets reseal": {args: func(e *contractEnv, f string) []string {
		return []string{"secrets", "reseal", "--key-file", e.path("secrets-" + f + ".key"), "--data-dir", e.path("sealed-" + f)}
	}},
	"secrets rotate-key": {args: func(e *contractEnv, f string) []string {
		return []string{"secrets", "rotate-key", "--key-file", e.path("secrets-" + f + ".key"), "--data-dir", e.path("sealed-" + f)}
	}},
	"secrets seal": {args: func(e *contractEnv, f string) []string {
		return []string{"secrets", "seal", "--key-file", e.path("secrets-" + f + ".key"), "--from", e.path("value")}
	}},
	"status":            {args: func(e *contractEnv, f string) []string { return []string{"status", "--addr", e.addr} }},
	"status extensions": {args: func(e *contractEnv, f string) []string { return []string{"status", "extensions", "--data-dir", e.dir} }},
	"store compact":     {args: func(e *contractEnv, f string) []string { return []string{"store", "compact", "--data-dir", e.dir} }},
	"tls ca create": {args: func(e *contractEnv, f string) []string {
		return []string{"tls", "ca", "create", "--dir", e.path("pki-" + f)}
	}},
	"tls cert create": {args: func(e *contractEnv, f string) []string {
		return []string{"tls", "cert", "create", "--ca-dir", e.path("pki-" + f), "--cluster", "tpa1", "--node", "tpa1-" + f}
	}},
	"token hash": {args: func(e *contractEnv, f string) []string { return []string{"token", "hash", e.path("tokens-" + f)} }},
	"token new": {args: func(e *contractEnv, f string) []string {
		return []string{"token", "new", "read", "noc-" + f, "--file", e.path("tokens-" + f)}
	}},
	"version": {args: argv("version")},
}

// formatsOrder is the order the contract test runs the formats in.
var formatsOrder = []string{"table", "json", "csv"}

// TestEveryCommandHonoursOutput walks the whole command tree: every
// command declares the formats it prints; asked for another it exits 1
// before it does anything; in each it declares it prints what it says
// (JSON that parses, CSV with a header and rows of one width, a table
// that is not JSON), against a live agent or an offline store.
func TestEveryCommandHonoursOutput(t *testing.T) {
	leaves := leafCommands()
	if len(leaves) < 60 {
		t.Fatalf("the walk found %d commands: it misses the tree", len(leaves))
	}
	var paths []string
	for p := range leaves {
		paths = append(paths, p)
		if _, ok := outputFormats[p]; !ok {
			t.Errorf("'pbxtopo %s' declares no output formats: add it to outputFormats (contract.go)", p)
		}
		if _, ok := invocations[p]; !ok {
			t.Errorf("'pbxtopo %s' has no command line in the contract test's invocations", p)
		}
	}
	for p := range outputFormats {
		if leaves[p] == nil {
			t.Errorf("outputFormats names %q, which is no command", p)
		}
	}
	if t.Failed() {
		return
	}
	sort.Strings(paths)
	e := newContractEnv(t)
	for _, p := range paths {
		inv := invocations[p]
		declared := outputFormats[p]
		for _, f := range formatsOrder {
			args := append(inv.args(e, f), "-o", f)
			if !slices.Contains(declared, f) {
				out, errs, code := pbxtopo(t, args...)
				if code != 1 || out != "" || !strings.Contains(errs, "cannot print "+f) {
					t.Errorf("pbxtopo %s: exit %d, stdout %q, stderr %q: want exit 1 saying it cannot print %s", strings.Join(args, " "), code, out, errs, f)
				}
				continue
			}
			if inv.skip != "" {
				continue
			}
			out, errs, code := pbxtopo(t, args...)
			if code != inv.code {
				t.Errorf("pbxtopo %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, inv.code, out, errs)
				continue
			}
			if why := checkFormat(f, out); why != "" {
				t.Errorf("pbxtopo %s: %s:\n%s", strings.Join(args, " "), why, out)
			}
		}
		if inv.skip != "" {
			t.Logf("pbxtopo %s: not run here: %s", p, inv.skip)
		}
	}
}

var csvHead = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// checkFormat says what is wrong with out as format f, or "".
func checkFormat(f, out string) string {
	switch f {
	case "json":
		dec := json.NewDecoder(strings.NewReader(out))
		var v any
		if err := dec.Decode(&v); err != nil {
			return "not JSON: " + err.Error()
		}
		if err := dec.Decode(&v); !errors.Is(err, io.EOF) {
			return "more than one JSON value"
		}
	case "csv":
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			return "not CSV: " + err.Error()
		}
		if len(rows) == 0 {
			return "no header row"
		}
		for _, h := range rows[0] {
			if !csvHead.MatchString(h) {
				return fmt.Sprintf("header cell %q is no column name (lower case, digits, '_' and '-')", h)
			}
		}
	case "table":
		if strings.TrimSpace(out) == "" {
			return "printed nothing"
		}
		if json.Valid([]byte(out)) && (strings.HasPrefix(strings.TrimSpace(out), "{") || strings.HasPrefix(strings.TrimSpace(out), "[")) {
			return "printed JSON for a table"
		}
	}
	return ""
}

func newContractEnv(t *testing.T) *contractEnv {
	t.Helper()
	e := &contractEnv{tmp: t.TempDir()}
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	a, _ := agenttest.Start(t, caDir, "tpa1", agenttest.Options{})
	e.addr = a.APIAddr()
	for _, table := range pbx.TableNames() {
		mustRun(t, "import", "--addr", e.addr, filepath.Join("..", "..", "testdata", "enterprise", table+".csv"))
	}
	waitReady(t, a)
	e.dir, e.conflict = conflictStore(t)
	for _, name := range []string{"A", "B", "C"} {
		mustRun(t, "ext", "set", "tpa1/6105", "fullcontact=contract "+name, "--data-dir", e.dir)
	}
	var hist []service.HistoryItem
	json.Unmarshal([]byte(mustRun(t, "history", "extensions/tpa1/6105", "--data-dir", e.dir, "-o", "json")), &hist)
	for _, h := range hist[len(hist)-3:] {
		e.changes = append(e.changes, h.Change)
	}
	var audit struct {
		Findings []struct {
			ID string `json:"id"`
		} `json:"findings"`
	}
	json.Unmarshal([]byte(mustRun(t, "audit", "--data-dir", e.dir, "-o", "json")), &audit)
	for _, f := range audit.Findings[:3] {
		e.findings = append(e.findings, f.ID)
	}
	e.backup = e.path("offline.pbxbak")
	mustRun(t, "backup", e.backup, "--data-dir", e.dir)
	for _, f := range formatsOrder {
		os.WriteFile(e.path("tokens-"+f), []byte("admin root clear-token-"+f+"-0123456789abcdef\n"), 0o600)
		os.CopyFS(e.path("sealed-"+f), os.DirFS(sampleStore(t)))
	}
	os.WriteFile(e.path("value"), []byte("a secret to seal\n"), 0o600)
	e.lookup = responder(t, false)
	return e
}

func waitReady(t *testing.T, a *agent.Agent) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.Service().Health().Status != "ok" {
		if time.Now().After(deadline) {
			t.Fatalf("agent not ready: %+v", a.Service().Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// conflictStore returns an offline store of cluster tpa1 holding the
// sample enterprise where three extensions were changed at tpa1 and at
// sfo without either seeing the other: three records in conflict.
func conflictStore(t *testing.T) (string, []string) {
	t.Helper()
	dir := sampleStore(t)
	other := t.TempDir()
	open := func(path, replica string) *store.Store {
		cfg := store.DefaultConfig(path)
		cfg.Replica = replica
		st, err := store.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, b := open(storeFile(dir), "tpa1"), open(storeFile(other), "sfo")
	testutil.PullAll(t, b, a)
	a.Close()
	b.Close()
	var refs []string
	for _, k := range []string{"tpa1/6101", "tpa1/6102", "tpa1/6103"} {
		mustRun(t, "ext", "set", k, "name=Changed at tpa1", "--data-dir", dir)
		mustRun(t, "ext", "set", k, "name=Changed at sfo", "--data-dir", other)
		refs = append(refs, "extensions/"+k)
	}
	a, b = open(storeFile(dir), "tpa1"), open(storeFile(other), "sfo")
	testutil.PullAll(t, a, b)
	a.Close()
	b.Close()
	return dir, refs
}
