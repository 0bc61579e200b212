package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// wantFail runs a command line that must fail with exit 1 and a message
// holding every want.
func wantFail(t *testing.T, args []string, want ...string) string {
	t.Helper()
	out, errs, code := pbxtopo(t, args...)
	if code != 1 {
		t.Errorf("pbxtopo %s: exit %d, want 1\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			t.Errorf("pbxtopo %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, errs)
		}
	}
	return errs
}

// TestMistypedCommandsAndFlags: a mistyped command or flag exits 1 and
// names the real ones; a hint names the command the flag was given to.
func TestMistypedCommandsAndFlags(t *testing.T) {
	wantFail(t, []string{"repl", "stauts"}, `unknown command "stauts" for 'pbxtopo repl'`, "did you mean 'pbxtopo repl status'?")
	wantFail(t, []string{"ext", "lst"}, "did you mean 'pbxtopo ext list'?")
	wantFail(t, []string{"frobnicate"}, `unknown command "frobnicate"`, "its commands are agent, ami, audit")
	wantFail(t, []string{"audit", "ak"}, "did you mean 'pbxtopo audit ack'?")
	wantFail(t, []string{"gossip", "keys", "instal", "KEY"}, "did you mean 'install'?")
	errs := wantFail(t, []string{"ext", "list", "--bogus"}, "unknown flag: --bogus", "(see 'pbxtopo ext list --help')")
	if strings.Contains(errs, "'pbxtopo list") {
		t.Errorf("the hint names a command that does not exist: %s", errs)
	}
	wantFail(t, []string{"ext", "list", "--grup", "IT"}, "did you mean '--group'?")
	wantFail(t, []string{"repl", "status", "extra"}, "(see 'pbxtopo repl status --help')")
	wantFail(t, []string{"export", "-o", "xml"}, `unknown output format "xml": use csv, json or table`)
	wantFail(t, []string{"version", "-o", "csv"}, "'pbxtopo version' cannot print csv: use -o table or -o json")
	if out, _, code := pbxtopo(t, "repl"); code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("a group alone prints its help: exit %d\n%s", code, out)
	}
}

// TestVersion: version and --version name the version, commit, Go,
// protocol and schema.
func TestVersion(t *testing.T) {
	text := mustRun(t, "version")
	if again := mustRun(t, "--version"); again != text {
		t.Errorf("--version differs from version:\n%s\n%s", again, text)
	}
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`^pbxtopo \S+\n`), regexp.MustCompile(`\ncommit \S+`),
		regexp.MustCompile(`\ngo go1\.`), regexp.MustCompile(`replication protocol 3 \(speaks 1 to 3\)`), regexp.MustCompile(`store schema 3`)} {
		if !want.MatchString(text) {
			t.Errorf("version lacks %s:\n%s", want, text)
		}
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(mustRun(t, "version", "-o", "json")), &b); err != nil || b.Protocol == 0 || b.Schema == 0 || b.Go == "" {
		t.Fatalf("json: %+v %v", b, err)
	}
}

// TestInputMistakesSayWhatToFix: the messages of item 8 of issue 22.
func TestInputMistakesSayWhatToFix(t *testing.T) {
	dir := sampleStore(t)
	foo := filepath.Join(t.TempDir(), "foo.csv")
	os.WriteFile(foo, []byte("cluster,regexten,name\ntpa1,7001,Someone\n"), 0o600)
	wantFail(t, []string{"import", foo, "--data-dir", dir}, "foo.csv: the file's name does not say which table it holds", "give --table TABLE")
	ext := filepath.Join(t.TempDir(), "extension.csv")
	os.WriteFile(ext, []byte("cluster,regexten,name\ntpa1,7001,Someone\n"), 0o600)
	wantFail(t, []string{"import", ext, "--data-dir", dir}, "did you mean --table extensions?")
	if out := mustRun(t, "ext", "list", "--search", "7001", "--data-dir", dir); strings.Contains(out, "Someone") {
		t.Fatal("a refused import changed the store")
	}

	wantFail(t, []string{"ext", "set", "tpa1/6109", "astgroup=NoSuchGroup", "--data-dir", dir}, `group "NoSuchGroup" is not defined`, "add it first")
	wantFail(t, []string{"ext", "set", "tpa1/6109", "astgroup=USSale", "--data-dir", dir}, `did you mean "USSales"?`)
	wantFail(t, []string{"ext", "set", "tpa1/6109", "call-limit=abc", "--data-dir", dir}, `call-limit "abc" is not a whole number`)
	wantFail(t, []string{"ext", "set", "tpa1/6109", "call-limit=123", "--data-dir", dir}, "call-limit 123 is too large: at most 99")

	out, errs, code := pbxtopo(t, "ext", "add", "--cluster", "tpa1", "--ext", "7002", "--name", "New Person", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "created extension tpa1/7002") {
		t.Fatalf("ext add: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"warning: no secret given: a random 16-character secret was set", "warning: no context", "SEC-UNKNOWN-CONTEXT",
		"warning: no acl or permit", "pbxtopo ext set tpa1/7002 acl=ACL"} {
		if !strings.Contains(errs, want) {
			t.Errorf("ext add without secret, context and ACL: stderr lacks %q:\n%s", want, errs)
		}
	}
	var v service.RecordView
	json.Unmarshal([]byte(mustRun(t, "ext", "get", "tpa1/7002", "--show-secrets", "-o", "json", "--data-dir", dir)), &v)
	if len(v.Fields["secret"]) != 16 || pbx.WeakSecret(v.Fields["secret"], "7002", 12) != "" {
		t.Fatalf("the secret set for a new extension: %q", v.Fields["secret"])
	}
}

// startAgents starts agents of the named clusters on free ports, joined,
// each holding the sample enterprise (imported at the first).
func startAgents(t *testing.T, clusters ...string) ([]*agent.Agent, []func()) {
	t.Helper()
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	var out []*agent.Agent
	var stops []func()
	var join []string
	for _, c := range clusters {
		a, stop := agenttest.Start(t, caDir, c, agenttest.Options{Join: join})
		if join == nil {
			join = []string{a.GossipAddr()}
		}
		out, stops = append(out, a), append(stops, stop)
	}
	for _, table := range pbx.TableNames() {
		mustRun(t, "import", "--addr", out[0].APIAddr(), filepath.Join("..", "..", "testdata", "enterprise", table+".csv"))
	}
	return out, stops
}

// TestLiveAgentCommands: what status, raft, repl topology, promote, status
// and verify say of a live enterprise (items 2 to 5 of issue 22).
func TestLiveAgentCommands(t *testing.T) {
	agents, stops := startAgents(t, "tpa1", "sfo")
	tpa1 := agents[0].APIAddr()
	testutil.Eventually(t, 20*time.Second, "sfo holds the sample and tpa1 pulls from it", func() bool {
		out, _, _ := pbxtopo(t, "ext", "list", "--cluster", "tpa1", "--addr", agents[1].APIAddr())
		st, err := agents[0].Service().ReplStatus(context.Background())
		return strings.Contains(out, "6109") && err == nil && linkState(st, "sfo") == replicator.LinkConnected
	})

	// status reports what the agent runs.
	text := mustRun(t, "status", "--addr", tpa1)
	for _, bad := range []string{"not part of this build", "node             : -", "UNKNOWN"} {
		if strings.Contains(text, bad) {
			t.Errorf("status says %q:\n%s", bad, text)
		}
	}
	for _, want := range []string{"node             : tpa1-1", "Asterisk not monitored: this agent runs no AMI collector",
		"Peer sfo-1 (sfo)", " alive", "Replication: mesh mode, failing: ", "ams dead",
		"PROBLEM: cluster lon is dead in the membership", "- NOW IN DEGRADED STATE -"} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	wantFail(t, []string{"status", "--node", "tpa1-9", "--addr", tpa1}, "no node tpa1-9 in cluster tpa1: its nodes are tpa1-1")

	// Unknown names are errors.
	wantFail(t, []string{"raft", "remove", "nosuchnode", "--addr", tpa1}, "no node nosuchnode in cluster tpa1's Raft configuration: its nodes are tpa1-1 (Voter)")
	wantFail(t, []string{"repl", "promote", "nyc", "--addr", tpa1}, "the primary nyc is no cluster: the clusters are ams, lon, sfo, tpa1, tpa2")
	wantFail(t, []string{"repl", "decommission", "nyc", "--addr", tpa1}, "nyc")
	wantFail(t, []string{"hours", "now", "NoSuchGroup", "--addr", tpa1}, "NoSuchGroup")
	wantFail(t, []string{"roaming", "report", "--cluster", "nyc", "--addr", tpa1}, "nyc")
	wantFail(t, []string{"ext", "list", "--cluster", "nyc", "--addr", tpa1}, "nyc")
	wantFail(t, []string{"audit", "ack", "SEC-NOSUCH:x", "--why", "w", "--addr", tpa1}, "SEC-NOSUCH:x")

	// repl topology shows without flags, and writes nothing.
	topology := func() string {
		var v string
		agents[0].Store().View(func(sn *store.Snapshot) error {
			r, err := sn.Get(replicator.TopologyTable, replicator.TopologyKey)
			if r != nil {
				v = r.Winner().Dot.String()
			}
			return err
		})
		return v
	}
	before := topology()
	shown := mustRun(t, "repl", "topology", "--addr", tpa1)
	if !strings.Contains(shown, "mode         mesh") {
		t.Errorf("repl topology:\n%s", shown)
	}
	if after := topology(); after != before {
		t.Errorf("repl topology without flags wrote the topology: version %s, then %s", before, after)
	}
	wantFail(t, []string{"repl", "topology", "--mode", "ring", "--order", "tpa1,tpa2,lon,ams", "--addr", tpa1},
		"the ring order tpa1,tpa2,lon,ams leaves out sfo, alive now", "--force makes the change anyway")
	wantFail(t, []string{"repl", "topology", "--mode", "ring", "--order", "tpa1,sfo,nyc", "--addr", tpa1}, "--order names nyc, which is no cluster")
	wantFail(t, []string{"repl", "promote", "sfo", "--addr", tpa1}, "the topology is in mesh mode, where no cluster is primary")
	mustRun(t, "repl", "promote", "sfo", "--force", "--addr", tpa1)
	mustRun(t, "repl", "topology", "--mode", "ring", "--order", "tpa1,sfo,tpa2,lon,ams", "--addr", tpa1)

	// repl status: every peer of the topology, also those never started.
	var st service.ReplStatus
	testutil.Eventually(t, 10*time.Second, "tpa1 pulls from sfo in the ring", func() bool {
		json.Unmarshal([]byte(mustRun(t, "repl", "status", "-o", "json", "--addr", tpa1)), &st)
		return st.Mode == replicator.Ring && linkState(&st, "sfo") == replicator.LinkConnected
	})
	for _, c := range []string{"ams", "lon", "tpa2"} {
		if s := linkState(&st, c); s != replicator.LinkDead {
			t.Errorf("%s, never started: state %q, want dead", c, s)
		}
	}
	table := mustRun(t, "repl", "status", "--addr", tpa1)
	for _, want := range []string{"PEER  STATE", "\nams   dead", "\nsfo   connected", "no node of lon is alive in the membership"} {
		if !strings.Contains(table, want) {
			t.Errorf("repl status lacks %q:\n%s", want, table)
		}
	}

	// repl verify covers every cluster and fails unless all match.
	out, errs, code := pbxtopo(t, "repl", "verify", "--addr", tpa1)
	if code != 1 || !strings.Contains(errs, "3 of 4 replicas do not match tpa1: ams unreachable, lon unreachable, tpa2 unreachable") ||
		!regexp.MustCompile(`sfo\s+same`).MatchString(out) || !strings.Contains(out, "no node of lon is in the membership") {
		t.Errorf("repl verify: exit %d\n%s%s", code, out, errs)
	}

	// A stopped peer stays in the table.
	stops[1]()
	testutil.Eventually(t, 20*time.Second, "sfo shown down at tpa1", func() bool {
		json.Unmarshal([]byte(mustRun(t, "repl", "status", "-o", "json", "--addr", tpa1)), &st)
		s := linkState(&st, "sfo")
		return s == replicator.LinkDead || s == replicator.LinkFailing
	})
}

func linkState(st *service.ReplStatus, peer string) string {
	for _, l := range st.Links {
		if l.Peer == peer {
			return l.State
		}
	}
	return ""
}

// TestReplStatusOnFollower: on a Raft follower, repl status names the node
// that runs replication and how to ask it.
func TestReplStatusOnFollower(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	extra := map[string]any{"raft.expect": 2}
	a1, _ := agenttest.Start(t, caDir, "tpa1", agenttest.Options{Node: "tpa1-1", Extra: extra})
	a2, _ := agenttest.Start(t, caDir, "tpa1", agenttest.Options{Node: "tpa1-2", Join: []string{a1.GossipAddr()}, Extra: extra})
	var leader, follower *agent.Agent
	testutil.Eventually(t, 30*time.Second, "a leader and a follower", func() bool {
		for _, a := range []*agent.Agent{a1, a2} {
			st, err := a.Service().RaftStatus(context.Background())
			if err != nil || len(st.Servers) != 2 {
				return false
			}
			if st.State == "leader" {
				leader = a
			} else {
				follower = a
			}
		}
		return leader != nil && follower != nil && leader != follower
	})
	lnode := map[*agent.Agent]string{a1: "tpa1-1", a2: "tpa1-2"}[leader]
	text := mustRun(t, "repl", "status", "--addr", follower.APIAddr())
	want := fmt.Sprintf("follows its cluster's Raft leader, which runs replication: %s; ask it: pbxtopo --addr %s repl status", lnode, leader.APIAddr())
	if !strings.Contains(text, want) {
		t.Errorf("repl status on a follower lacks %q:\n%s", want, text)
	}
	status := mustRun(t, "status", "--addr", follower.APIAddr())
	if !strings.Contains(status, "Replication: mesh mode, runs on the Raft leader: node "+lnode) {
		t.Errorf("status on a follower:\n%s", status)
	}
}
