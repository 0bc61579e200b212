package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
	"github.com/pbxtopo/pbxtopo/internal/demo"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/mysql"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// pbxtopoBinary builds the binary once for the end-to-end tests.
func pbxtopoBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pbxtopo-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "pbxtopo")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// prepareEnterprise prepares an enterprise on free loopback ports and
// stops it when the test ends (printing the agents' logs if it failed).
func prepareEnterprise(t *testing.T, cfg demo.Config) *demo.Enterprise {
	t.Helper()
	cfg.Binary = pbxtopoBinary(t)
	var e *demo.Enterprise
	for try := 0; ; try++ {
		cfg.Dir, cfg.PortBase = t.TempDir(), 20000+rand.Intn(30000)/10*10
		var err error
		if e, err = demo.Prepare(cfg); err != nil {
			t.Fatal(err)
		}
		if err = e.CheckPorts(); err == nil {
			break
		} else if try == 5 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			for _, n := range e.Nodes() {
				if b, err := os.ReadFile(n.Log); err == nil {
					t.Logf("--- %s log (last 3000 bytes):\n%s", n.Name, tail(b, 3000))
				}
			}
		}
	})
	return e
}

// threeNodeCluster prepares tpa1 with three nodes (gossip seed: tpa1-1)
// and sfo with one node that bootstraps alone.
func threeNodeCluster(t *testing.T, cfg demo.Config) *demo.Enterprise {
	t.Helper()
	cfg.Clusters, cfg.Nodes, cfg.Mode, cfg.Seed = []string{"tpa1", "sfo"}, 3, "mesh", true
	e := prepareEnterprise(t, cfg)
	e.Clusters[1].Nodes = e.Clusters[1].Nodes[:1]
	conf, _ := os.ReadFile(e.Clusters[1].Nodes[0].Config)
	os.WriteFile(e.Clusters[1].Nodes[0].Config, []byte(strings.Replace(string(conf), "expect: 3", "expect: 1", 1)), 0o600)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	return e
}

// startEnterprise prepares and starts clusters on free loopback ports.
func startEnterprise(t *testing.T, clusters []string, mode string, with ...func(*demo.Config)) *demo.Enterprise {
	t.Helper()
	cfg := demo.Config{Clusters: clusters, Nodes: 1, Mode: mode, Seed: true}
	for _, f := range with {
		f(&cfg)
	}
	e := prepareEnterprise(t, cfg)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	// Generous: under -race beside the other packages' tests on two CPUs,
	// five agents took about 30 s to settle (WaitReady says what lacks).
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not within %s: %s", within, what)
}

func count(e *demo.Enterprise, n *demo.Node, search string) int {
	p, err := e.Client(n, "read").List(context.Background(), "extensions", service.Query{Search: search})
	if err != nil {
		return -1
	}
	return p.Total
}

// TestRingSurvivesSIGKILL runs three real agents in ring mode, kills the
// middle one with SIGKILL, keeps writing on both sides of it, restarts it,
// and checks that everything converges.
func TestRingSurvivesSIGKILL(t *testing.T) {
	e := startEnterprise(t, []string{"tpa1", "sfo", "lon"}, "ring")
	tpa1, sfo, lon := e.Clusters[0].Nodes[0], e.Clusters[1].Nodes[0], e.Clusters[2].Nodes[0]
	ctx := context.Background()
	add := func(n *demo.Node, cluster string, num int) {
		t.Helper()
		_, err := e.Client(n, "operator").Put(ctx, "extensions", pbx.Fields{"cluster": cluster, "regexten": fmt.Sprint(num),
			"name": fmt.Sprintf("e2e %d", num)}, service.PutOptions{Must: store.MustNotExist})
		if err != nil {
			t.Fatalf("add %d at %s: %v", num, n.Name, err)
		}
	}
	for i := 0; i < 5; i++ {
		add(tpa1, "tpa1", 7000+i)
	}
	eventually(t, 10*time.Second, "lon has tpa1's writes through sfo", func() bool { return count(e, lon, "e2e") == 5 })

	// tpa1's DUNDi peer answers for the roaming number 5200 with both
	// clusters that hold it: sfo (home, with the mailbox) first.
	bin := pbxtopoBinary(t)
	if got := dundiAnswers(t, bin, tpa1, "5200"); fmt.Sprint(got) != fmt.Sprint([]string{"sfo", "tpa1"}) {
		t.Fatalf("DUNDi answers for 5200 at tpa1: %v, want [sfo tpa1]", got)
	}

	if err := sfo.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sfo.Wait(5 * time.Second)
	eventually(t, 10*time.Second, "tpa1's DUNDi peer leaves dead sfo out", func() bool {
		return fmt.Sprint(dundiAnswers(t, bin, tpa1, "5200")) == "[tpa1]"
	})
	for i := 5; i < 15; i++ {
		add(tpa1, "tpa1", 7000+i) // lon's predecessor is dead: the ring must skip it
		add(lon, "lon", 8000+i)
	}
	eventually(t, 15*time.Second, "with sfo dead, lon gets tpa1's writes and tpa1 gets lon's", func() bool {
		return count(e, lon, "e2e") == 25 && count(e, tpa1, "e2e") == 25
	})
	if err := sfo.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "sfo caught up after its restart", func() bool { return count(e, sfo, "e2e") == 25 })
	eventually(t, 20*time.Second, "repl verify: every replica the same", func() bool {
		v, err := e.Client(tpa1, "read").ReplVerify(ctx)
		return err == nil && v.SameAt([]string{"sfo", "lon"}) // tpa2 and ams of the sample never run here
	})
}

// TestClusterSurvivesLeaderSIGKILL runs a cluster of three agent processes
// and one agent of another cluster, kills the Raft leader with SIGKILL,
// keeps writing through the survivors, and checks the other cluster
// receives everything.
func TestClusterSurvivesLeaderSIGKILL(t *testing.T) {
	// tpa1-3 is a witness: a Raft vote, never a replication address.
	e := threeNodeCluster(t, demo.Config{NodeExtra: map[string]string{"tpa1-3": "role: witness\n"}})
	ctx := context.Background()
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := e.WaitReady(waitCtx); err != nil {
		t.Fatal(err)
	}
	tpa, sfo := e.Clusters[0].Nodes, e.Clusters[1].Nodes[0]
	leaderOf := func() *demo.Node {
		for _, n := range tpa {
			if st, err := e.Client(n, "read").RaftStatus(ctx); err == nil && st.State == "leader" {
				return n
			}
		}
		return nil
	}
	var leader *demo.Node
	eventually(t, 20*time.Second, "tpa1 elects a leader", func() bool { leader = leaderOf(); return leader != nil })
	members, err := e.Client(sfo, "read").Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(members, func(m replicator.Member) bool { return m.Node == "tpa1-3" }); i < 0 || members[i].Tags[replicator.TagRole] != "witness" {
		t.Fatalf("tpa1-3 is not a witness in %v", members)
	}
	for _, c := range replicator.ClustersOf(members) {
		if c.Name == "tpa1" && slices.Contains(c.Addrs, tpa[2].Repl) {
			t.Fatalf("the witness is a replication address of tpa1: %v", c.Addrs)
		}
	}
	written := 0
	add := func(n *demo.Node) error {
		_, err := e.Client(n, "operator").Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": fmt.Sprint(7100 + written),
			"name": fmt.Sprintf("raft e2e %d", written)}, service.PutOptions{Must: store.MustNotExist})
		if err == nil {
			written++
		}
		return err
	}
	for _, n := range tpa { // writes through every node, followers forward
		if err := add(n); err != nil {
			t.Fatalf("write through %s: %v", n.Name, err)
		}
	}
	if err := leader.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	leader.Wait(5 * time.Second)
	killed := time.Now()
	var survivors []*demo.Node
	for _, n := range tpa {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	// Keep writing through the survivors; the first may wait for the election.
	for i := 0; i < 10; i++ {
		n := survivors[i%2]
		if err := add(n); err != nil {
			t.Fatalf("write %d through %s after the kill: %v", i, n.Name, err)
		}
		if i == 0 {
			t.Logf("first write accepted %s after the leader's SIGKILL", time.Since(killed).Round(time.Millisecond))
		}
	}
	eventually(t, 20*time.Second, "sfo has every write made in tpa1", func() bool { return count(e, sfo, "raft e2e") == written })
	for _, n := range survivors { // a read through the leader sees every write at once, on a follower too
		p, err := e.Client(n, "read").Fresh().List(ctx, "extensions", service.Query{Search: "raft e2e"})
		if err != nil {
			t.Fatalf("fresh read at %s: %v", n.Name, err)
		}
		if p.Total != written {
			t.Fatalf("fresh read at %s: %d of %d writes", n.Name, p.Total, written)
		}
	}
}

// dundiAnswers asks a node's DUNDi peer for number@priv with the CLI and
// returns the clusters of the answers, in order.
func dundiAnswers(t *testing.T, bin string, n *demo.Node, number string) []string {
	t.Helper()
	out, err := exec.Command(bin, "dundi", "lookup", number+"@priv", "--peer", n.DUNDi, "--eid", demo.LookupEID, "-o", "json").Output()
	if err != nil {
		t.Fatalf("dundi lookup: %v %s", err, out)
	}
	var r struct {
		Results []struct{ EID, Destination string }
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("dundi lookup -o json: %v: %s", err, out)
	}
	var clusters []string
	for _, a := range r.Results {
		for _, c := range []string{"tpa1", "sfo", "lon"} {
			if a.EID == roaming.EntityID(c) {
				clusters = append(clusters, c)
			}
		}
	}
	return clusters
}

// TestAgentCollectsAMIStatus points two agents at a scripted Asterisk
// manager interface and reads the collected status through the API.
func TestAgentCollectsAMIStatus(t *testing.T) {
	ast, err := amitest.NewServer("pbxtopo", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer ast.Close()
	ast.Handle("SIPpeers", func(s *amitest.Session, req ami.Message) {
		s.List(req, []ami.Message{amitest.M("Event", "PeerEntry", "ObjectName", "6101", "IPaddress", "10.1.1.5", "IPport", "5060", "Status", "OK (4 ms)")}, "PeerlistComplete")
	})
	e := startEnterprise(t, []string{"tpa1", "sfo"}, "mesh", func(c *demo.Config) {
		c.Extra = fmt.Sprintf("ami:\n  addr: %s\n  user: pbxtopo\n  secret: s3cret\n  flush: 100ms\n  vip: \"off\"\n", ast.Addr)
	})
	tpa1 := e.Clusters[0].Nodes[0]
	ctx := context.Background()
	eventually(t, 15*time.Second, "tpa1's agent reports 6101 registered", func() bool {
		rows, err := e.Client(tpa1, "read").ExtensionStatus(ctx, "tpa1")
		if err != nil {
			return false
		}
		for _, r := range rows {
			if r["regexten"] == "6101" && r["regstatus"] == "registered" && r["lastms"] == "4" {
				return true
			}
		}
		return false
	})
	// Status replicates like any record, without conflicts: sfo sees it.
	sfo := e.Clusters[1].Nodes[0]
	eventually(t, 15*time.Second, "sfo sees tpa1's 6101 registered", func() bool {
		rows, err := e.Client(sfo, "read").ExtensionStatus(ctx, "tpa1")
		if err != nil {
			return false
		}
		for _, r := range rows {
			if r["regexten"] == "6101" && r["regstatus"] == "registered" {
				return true
			}
		}
		return false
	})
	rep, err := e.Client(tpa1, "read").StatusReport(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Cluster != "tpa1" || rep.Node != "tpa1-1" || rep.Asterisk == nil || rep.Asterisk.State != "connected" {
		t.Fatalf("status report: %+v", rep)
	}
	// The parts show in the metrics.
	q := new(dns.Msg)
	q.SetQuestion("_sip._udp.tpa1.voice.example.net.", dns.TypeSRV)
	if _, err := dns.Exchange(q, tpa1.DNS); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+tpa1.HTTP+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+e.Tokens["read"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`pbxtopo_ami_total{counter="refreshes"}`, `pbxtopo_dns_queries_total{transport="udp"}`,
		`pbxtopo_dundi_events_total{event="received"}`, `pbxtopo_cluster_up{cluster="sfo"} 1`,
		`pbxtopo_dns_queries_by_type_total{type="SRV"} 1`, `pbxtopo_dns_results_total{result="answer"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestAgentBridgesMySQL runs a real MariaDB as cluster tpa1's realtime
// database: the agent's bridge fills it with the enterprise, and a row
// Asterisk's side inserts reaches the other cluster. A row the store
// cannot take is parked (repl status, status, the metric) and fixing it
// in MariaDB applies it.
func TestAgentBridgesMySQL(t *testing.T) {
	if err := mariadbtest.Available(); err != nil {
		t.Skip(err)
	}
	db, err := mariadbtest.Start(t.TempDir(), mariadbtest.Options{ServerID: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Stop)
	if err := db.Exec("", "CREATE DATABASE asterisk"); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("asterisk", mysql.GuideDDL()); err != nil {
		t.Fatal(err)
	}
	e := startEnterprise(t, []string{"tpa1", "sfo"}, "mesh", func(c *demo.Config) {
		c.MySQL = map[string]string{"tpa1": db.DSN("asterisk")} // pbxtopo demo --mysql tpa1=DSN
	})
	tpa1, sfo := e.Clusters[0].Nodes[0], e.Clusters[1].Nodes[0]
	total := count(e, tpa1, "")
	rows := func() int {
		c, err := db.Conn("asterisk")
		if err != nil {
			return -1
		}
		defer c.Close()
		r, err := c.Execute("SELECT COUNT(*) FROM " + mysql.GuideTable)
		if err != nil {
			return -1
		}
		n, _ := r.GetInt(0, 0)
		return int(n)
	}
	eventually(t, 20*time.Second, fmt.Sprintf("MariaDB holds the enterprise's %d extensions", total), func() bool { return rows() == total })
	if err := db.Exec("asterisk", "INSERT INTO "+mysql.GuideTable+" (cluster, site, regexten, name, context) VALUES ('tpa1', 'tpa', '7777', 'from mysql', 'sales')"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "sfo has the row inserted into tpa1's MariaDB", func() bool { return count(e, sfo, "from mysql") == 1 })
	// repl status and status show the bridge, and a row it parks.
	if err := db.Exec("asterisk", "INSERT INTO "+mysql.GuideTable+" (cluster, regexten, dtmfmode) VALUES ('tpa1', '7778', 'morse')"); err != nil {
		t.Fatal(err)
	}
	var rs *service.ReplStatus
	eventually(t, 20*time.Second, "repl status shows the parked row", func() bool {
		rs, err = e.Client(tpa1, "read").ReplStatus(context.Background())
		return err == nil && rs.MySQL != nil && rs.MySQL.State == mysql.StateFollowing && len(rs.MySQL.Parked) == 1
	})
	if p := rs.MySQL.Parked[0]; p.Row != mysql.GuideTable+" row cluster=tpa1,regexten=7778" || p.Column != "dtmfmode" {
		t.Fatalf("parked %+v", p)
	}
	r, err := e.Client(tpa1, "read").StatusReport(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.MySQL == nil || len(r.MySQL.Parked) != 1 || !strings.Contains(strings.Join(r.Problems, "\n"), "MySQL row parked: "+mysql.GuideTable+" row cluster=tpa1,regexten=7778") {
		t.Fatalf("status report: %+v, problems %q", r.MySQL, r.Problems)
	}
	parked := func() string {
		req, _ := http.NewRequest("GET", "http://"+tpa1.HTTP+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+e.Tokens["read"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^pbxtopo_mysql_parked_rows\{side="in"\} (\d+)$`).FindSubmatch(body)
		if m == nil {
			return "no pbxtopo_mysql_parked_rows{side=\"in\"}"
		}
		return string(m[1])
	}
	if n := parked(); n != "1" {
		t.Fatalf("pbxtopo_mysql_parked_rows{side=\"in\"} = %s, want 1", n)
	}
	// The board has the bridge's row, warning of the parked row.
	req, _ := http.NewRequest("GET", "http://"+tpa1.HTTP+"/ui/", nil)
	req.Header.Set("Authorization", "Bearer "+e.Tokens["read"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	board, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(board), "MySQL realtime") || !strings.Contains(string(board), "1 parked · following") ||
		!strings.Contains(string(board), "regexten=7778") {
		t.Errorf("the board (%d) shows no MySQL row with the parked row:\n%s", resp.StatusCode, board)
	}
	// pbxtopo repl status prints the bridge and the parked row's fix.
	out, err := exec.Command(pbxtopoBinary(t), "repl", "status", "--addr", tpa1.HTTP, "--token", e.Tokens["read"]).CombinedOutput()
	if err != nil {
		t.Fatalf("pbxtopo repl status: %v\n%s", err, out)
	}
	for _, want := range []string{"MySQL bridge root@tcp(", "(mapping guide): following", "1 parked",
		"in      " + mysql.GuideTable + " row cluster=tpa1,regexten=7778  dtmfmode", "UPDATE `" + mysql.GuideTable + "` SET `dtmfmode` = ..."} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pbxtopo repl status lacks %q:\n%s", want, out)
		}
	}
	// Fixing the row in MariaDB applies it and clears the park.
	if err := db.Exec("asterisk", "UPDATE "+mysql.GuideTable+" SET dtmfmode = 'info' WHERE cluster = 'tpa1' AND regexten = '7778'"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "sfo has 7778 once fixed, and no row parked", func() bool {
		r, err := e.Client(sfo, "read").Get(context.Background(), "extensions", "tpa1/7778")
		return err == nil && r.Fields["dtmfmode"] == "info" && parked() == "0"
	})
}

// TestNewClusterJoinsRunningEnterprise follows the README's runbook: a
// cluster that is not in the sample (nyc) is added to a running
// enterprise of two clusters. Its node starts with a certificate made by
// the admin and a join address, receives the whole store, appears in the
// membership and in replication status, the DNS server answers for it,
// the other clusters' DUNDi files peer with it, and its writes reach them.
func TestNewClusterJoinsRunningEnterprise(t *testing.T) {
	e := prepareEnterprise(t, demo.Config{Clusters: []string{"tpa1", "sfo", "nyc"}, Nodes: 1, Mode: "mesh", Seed: true})
	tpa1, sfo, nyc := e.Clusters[0].Nodes[0], e.Clusters[1].Nodes[0], e.Clusters[2].Nodes[0]
	for _, n := range []*demo.Node{tpa1, sfo} {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	total := 0
	eventually(t, 30*time.Second, "tpa1 and sfo hold the sample", func() bool {
		total = count(e, tpa1, "")
		return total > 0 && count(e, sfo, "") == total
	})
	// The admin describes the new cluster and puts it in the ring order.
	admin := e.Client(tpa1, "admin")
	if _, err := admin.Put(ctx, "sites", pbx.Fields{"name": "nyc", "description": "New York", "timezone": "America/New_York"}, service.PutOptions{Must: store.MustNotExist}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Put(ctx, "clusters", pbx.Fields{"name": "nyc", "site": "nyc", "voice_vip": "192.0.2.50", "voice_servers": "192.0.2.51",
		"sip_port": "5060", "transports": "udp,tcp", "failover": "tpa1,sfo"}, service.PutOptions{Must: store.MustNotExist}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetTopology(ctx, service.TopologyChange{Order: []string{"tpa1", "sfo", "nyc"}}); err != nil {
		t.Fatal(err)
	}
	// Its first start: the certificate and the join address are in its config.
	if err := nyc.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "nyc receives the whole store", func() bool { return count(e, nyc, "") == total })
	members, err := e.Client(tpa1, "read").Members(ctx)
	if err != nil || !slices.ContainsFunc(members, func(m replicator.Member) bool { return m.Node == "nyc-1" && m.Status == "alive" }) {
		t.Fatalf("members at tpa1: %v %v", members, err)
	}
	eventually(t, 15*time.Second, "tpa1's replication status has a link to nyc", func() bool {
		st, err := e.Client(tpa1, "read").ReplStatus(ctx)
		return err == nil && slices.ContainsFunc(st.Links, func(l replicator.LinkStatus) bool { return l.Peer == "nyc" && l.Connected })
	})
	q := new(dns.Msg)
	q.SetQuestion("_sip._udp.nyc.voice.example.net.", dns.TypeSRV)
	eventually(t, 10*time.Second, "tpa1's DNS server answers for nyc", func() bool {
		r, err := dns.Exchange(q, tpa1.DNS)
		return err == nil && len(r.Answer) > 0 && strings.Contains(fmt.Sprint(r.Extra), "192.0.2.50")
	})
	b, err := e.Client(tpa1, "read").DUNDiConfig(ctx, "tpa1")
	if err != nil || !strings.Contains(fmt.Sprint(b.Files), roaming.EntityID("nyc")) {
		t.Fatalf("tpa1's DUNDi files do not peer with nyc: %v", err)
	}
	if _, err := e.Client(nyc, "operator").Put(ctx, "extensions", pbx.Fields{"cluster": "nyc", "regexten": "7300", "name": "first in nyc"},
		service.PutOptions{Must: store.MustNotExist}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "nyc's first extension reaches tpa1 and sfo", func() bool {
		return count(e, tpa1, "first in nyc") == 1 && count(e, sfo, "first in nyc") == 1
	})
}
