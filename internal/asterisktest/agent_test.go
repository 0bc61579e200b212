package asterisktest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo"
	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// These tests run agents beside real Asterisk servers, one per cluster,
// with the sample enterprise of the cluster manager guide.

func newCA(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(dir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	return dir
}

// importSample imports the sample enterprise through the agent's service.
func importSample(t *testing.T, svc *service.Service) {
	t.Helper()
	for _, table := range pbx.TableNames() {
		f, err := pbxtopo.SampleEnterprise.Open("testdata/enterprise/" + table + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Import(context.Background(), service.ImportRequest{Table: table, Source: table + ".csv"}, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
	}
}

// published is the DUNDi publish of the agent's status report.
func published(t *testing.T, svc *service.Service) *ami.PublishReport {
	t.Helper()
	r, err := svc.StatusReport(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return r.Published
}

// settled waits until the agent published the store's current version
// and returns that publish.
func settled(t *testing.T, a *agent.Agent) *ami.PublishReport {
	t.Helper()
	var p *ami.PublishReport
	waitUntil(t, 20*time.Second, "the publish of the store's current version", func() bool {
		var v roaming.Version
		a.Store().View(func(sn *store.Snapshot) error {
			var err error
			v, err = roaming.StoreVersion(sn)
			return err
		})
		p = published(t, a.Service())
		return p != nil && p.Version == v.Summary
	})
	return p
}

// reloads counts the module reloads Asterisk logged.
func reloads(t *testing.T, ast *asterisktest.Instance) int {
	b, err := os.ReadFile(filepath.Join(ast.Logs, "full"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "loader.c: Reloading module")
}

// An agent with dundi.dir and ami.* keeps its cluster's DUNDi files in its
// Asterisk: it writes them, adds the includes, reloads the modules, and
// says so in its status; a roaming change reaches the dialplan; a change
// that does not touch the files writes and reloads nothing.
func TestAsteriskAgentKeepsDUNDiFilesCurrent(t *testing.T) {
	t.Parallel()
	ast := asterisktest.Start(t, asterisktest.Options{})
	a, _ := agenttest.Start(t, newCA(t), "tpa1", agenttest.Options{Extra: map[string]any{
		"ami.addr": ast.AMIAddr(), "ami.user": ast.AMIUser, "ami.secret": ast.AMISecret,
		"ami.config_dir": ast.Etc, "ami.log_file": ast.Messages(),
		"dundi.dir": filepath.Join(ast.Etc, "pbxtopo"), "dundi.debounce": "20ms"}})
	svc := a.Service()
	importSample(t, svc)
	if p := settled(t, a); p.Result != "OK" && p.Result != "UNCHANGED" {
		t.Fatalf("publish after the import: %+v", p)
	}
	ast.WaitCLI("dialplan show dundi-pbxtopo-local", 5*time.Second, func(out string) bool {
		return strings.Contains(out, "'6109'") && strings.Contains(out, "'6102'")
	})
	ast.WaitCLI("dundi show mappings", 5*time.Second, func(out string) bool { return strings.Contains(out, "dundi-pbxtop") })
	ast.WaitCLI("iax2 show users", 5*time.Second, func(out string) bool { return strings.Contains(out, "pbxtopo-dundi") })
	var text strings.Builder
	r, _ := svc.StatusReport(context.Background(), "")
	r.WriteText(&text)
	if !strings.Contains(text.String(), "DUNDi files in "+filepath.Join(ast.Etc, "pbxtopo")+": ") {
		t.Fatalf("status report:\n%s", text.String())
	}

	// 6101 starts to roam: tpa1 answers for it.
	ctx := context.Background()
	rec, err := svc.Get(ctx, "extensions", "tpa1/6101")
	if err != nil {
		t.Fatal(err)
	}
	rec.Fields["roaming"] = "yes"
	if _, err := svc.Put(ctx, "extensions", rec.Fields, service.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := settled(t, a); p.Result != "OK" || strings.Join(p.Changed, ",") != "pbxtopo/extensions-pbxtopo.conf" {
		t.Fatalf("publish after a roaming change: %+v", p)
	}
	ast.WaitCLI("dialplan show dundi-pbxtopo-local", 5*time.Second, func(out string) bool { return strings.Contains(out, "'6101'") })

	// A change elsewhere (a non-roaming extension of another cluster)
	// moves the store version but not the files.
	before, after := reloads(t, ast), 0
	stat, _ := os.Stat(filepath.Join(ast.Etc, "pbxtopo", "extensions-pbxtopo.conf"))
	rec, err = svc.Get(ctx, "extensions", "lon/4402")
	if err != nil {
		t.Fatal(err)
	}
	rec.Fields["name"] = "Renamed"
	if _, err := svc.Put(ctx, "extensions", rec.Fields, service.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if p := settled(t, a); p.Result != "UNCHANGED" || len(p.Changed) != 0 {
		t.Fatalf("publish after an unrelated change: %+v", p)
	}
	if after = reloads(t, ast); after != before {
		t.Fatalf("%d reloads after an unrelated change", after-before)
	}
	if now, _ := os.Stat(filepath.Join(ast.Etc, "pbxtopo", "extensions-pbxtopo.conf")); !now.ModTime().Equal(stat.ModTime()) {
		t.Fatal("the file was rewritten")
	}
}

// keyFiles reads test keys of roaming/dundi/testdata (dundiA is the
// Asterisk's pair, dundiB the agent's).
func keyFiles(t *testing.T, names ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("..", "..", "roaming", "dundi", "testdata", "encrypted", "keys", n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

// A real Asterisk asks the agent's DUNDi peer for roaming numbers, in
// clear and encrypted, and gets one answer per cluster that holds the
// number, from the agent's store.
func TestAsteriskAsksTheAgentsDUNDiPeer(t *testing.T) {
	const agentEID = "02:00:00:00:99:01"
	keys := filepath.Join("..", "..", "roaming", "dundi", "testdata", "encrypted", "keys")
	for _, encrypted := range []bool{false, true} {
		name := map[bool]string{false: "clear", true: "encrypted"}[encrypted]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			agentAddr := testnet.FreeAddr(t, "127.0.0.1")
			_, agentPort, _ := strings.Cut(agentAddr, ":")
			peer := "\n[" + agentEID + "]\nmodel = outbound\nhost = 127.0.0.1\nport = " + agentPort + "\ninclude = priv\n"
			o := asterisktest.Options{EID: "02:00:00:00:00:0a", Append: map[string]string{"dundi.conf": peer}}
			if encrypted {
				o.Append["dundi.conf"] += "inkey = dundiB\noutkey = dundiA\n"
				o.Keys = keyFiles(t, "dundiA.key", "dundiA.pub", "dundiB.pub")
			}
			ast := asterisktest.Start(t, o)
			p := map[string]any{"eid": ast.EID, "host": ast.DUNDiAddr(), "model": "inbound", "permit": []string{"priv"}}
			dundiKeys := map[string]any{"dundi.eid": agentEID, "dundi.addr": agentAddr, "dundi.secret": "s3cret",
				"dundi.mappings": []map[string]any{{"context": "priv", "tech": "IAX2", "destination": "dundi:${SECRET}@${IPADDR}/${NUMBER}"}}}
			if encrypted {
				p["public_key"] = filepath.Join(keys, "dundiA.pub")
				dundiKeys["dundi.private_key"] = filepath.Join(keys, "dundiB.key")
			} else {
				p["unencrypted"] = true
			}
			dundiKeys["dundi.peers"] = []map[string]any{p}
			a, _ := agenttest.Start(t, newCA(t), "tpa1", agenttest.Options{Extra: dundiKeys})
			importSample(t, a.Service())
			// 6109 roams on tpa1 (VIP 192.168.0.218), the only cluster
			// alive here (the others have no agent: their answers are left
			// out).
			ast.WaitCLI("dundi lookup 6109@priv bypass", 15*time.Second, func(out string) bool {
				// The answer names the answering cluster's entity.
				return strings.Contains(out, "IAX2/dundi:s3cret@192.168.0.218/6109") && strings.Contains(out, "from "+roaming.EntityID("tpa1"))
			})
			if out := ast.MustCLI("dundi lookup 6199@priv bypass"); !strings.Contains(out, "returned no results") {
				t.Fatalf("lookup of a number nobody holds:\n%s", out)
			}
		})
	}
}
