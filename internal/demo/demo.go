// Package demo starts a whole enterprise of real agent processes on
// loopback: certificates, gossip key, tokens, one config per node, the
// sample data, and the processes themselves. `pbxtopo demo` and the
// end-to-end tests use it.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pbxtopo/pbxtopo"
	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/mysql"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// Config describes the enterprise to start.
type Config struct {
	Binary   string   // the pbxtopo executable
	Dir      string   // everything goes here
	Clusters []string // cluster names; each cluster's site comes from the sample data
	Nodes    int      // agents per cluster
	Mode     string   // replication mode
	PortBase int      // node k uses PortBase+10k .. +10k+5
	Seed     bool     // import the sample enterprise into the first cluster
	// Extra is appended to every node's config file (YAML),
	// ClusterExtra[c] to the config files of cluster c's nodes and
	// NodeExtra[n] to node n's ("tpa1-3": "role: witness\n").
	Extra        string
	ClusterExtra map[string]string
	NodeExtra    map[string]string
	// RaftExtra is added to every node's raft section, indented
	// ("  snapshot_threshold: 64\n").
	RaftExtra string
	// Hosts, when set, gives node k the address Hosts[k] (all on the same
	// ports) instead of 127.0.0.1 with ports from PortBase+10k.
	Hosts []string
	// MySQL attaches a realtime database to clusters: cluster → DSN
	// (user:password@tcp(host:port)/database), with MySQLMapping (guide,
	// pjsip or sippeers; the bridge's default when empty).
	MySQL        map[string]string
	MySQLMapping string
	// Exec, when set, returns the command prefix that starts node k
	// (e.g. "ip netns exec NS" to run it in a network namespace).
	Exec func(k int) []string
	// StandIns gives each cluster a stand-in Asterisk: a process that
	// answers SIP OPTIONS on 127.0.0.1 (port PortBase+10k+6 of the
	// cluster's first node k), which the seeded cluster record names as
	// its voice VIP and every agent probes (dns.probe). Killing it is the
	// demo's dead Asterisk beside a live agent. Needs Seed, on loopback.
	StandIns bool
}

// Node is one agent of the enterprise.
type Node struct {
	Cluster string `json:"-"`
	Name    string `json:"node"`
	PID     int    `json:"pid"`
	HTTP    string `json:"http"`
	DNS     string `json:"dns"`
	Repl    string `json:"repl"`
	Serf    string `json:"serf"`
	Raft    string `json:"raft"`
	DUNDi   string `json:"dundi,omitempty"`
	DataDir string `json:"data_dir"`
	Config  string `json:"config"`
	Log     string `json:"log"`
	proc    process
	bin     string
	prefix  []string
}

// Cluster is one cluster with its nodes.
type Cluster struct {
	Cluster string  `json:"cluster"`
	Site    string  `json:"site"`
	Nodes   []*Node `json:"nodes"`
	// Asterisk is the cluster's stand-in Asterisk (Config.StandIns).
	Asterisk *StandIn `json:"asterisk,omitempty"`
}

// StandIn is a process that answers SIP OPTIONS for a cluster's voice VIP.
type StandIn struct {
	PID  int    `json:"pid"`
	SIP  string `json:"sip"`
	proc process
	bin  string
	log  string
}

// Enterprise is what Start made; it is also demo.json.
type Enterprise struct {
	Clusters []*Cluster        `json:"clusters"`
	Tokens   map[string]string `json:"tokens"`
	Mode     string            `json:"mode"`
	Dir      string            `json:"dir"`
	MySQL    map[string]string `json:"mysql,omitempty"` // cluster → realtime database (password hidden)
}

// LookupEID is the DUNDi entity id `pbxtopo dundi lookup` uses against
// the demo's agents: each agent takes clear queries from it on loopback.
const LookupEID = "02:00:00:00:de:01"

const dundiTemplate = `dundi:
  addr: %s
  eid: "%s"
  secret: demo
  mappings:
    - {context: priv, tech: IAX2, destination: "dundi:${SECRET}@${IPADDR}/${NUMBER}"}
  peers:
    - {eid: "%s", host: dynamic, model: inbound, permit: [priv], unencrypted: true, allow_from: [127.0.0.1]}
`

// Sites of the sample clusters; other names get a site of their own.
var sampleSites = map[string]string{"tpa1": "tpa", "tpa2": "tpa", "sfo": "sfo", "lon": "lon", "ams": "ams"}

// Prepare writes everything a start needs (PKI, keys, tokens, configs,
// seeded store) without starting anything.
func Prepare(cfg Config) (*Enterprise, error) {
	if cfg.Nodes < 1 {
		cfg.Nodes = 1
	}
	if len(cfg.Clusters) == 0 {
		cfg.Clusters = []string{"tpa1", "tpa2", "sfo", "lon", "ams"}
	}
	for c, dsn := range cfg.MySQL {
		if !slices.Contains(cfg.Clusters, c) {
			return nil, fmt.Errorf("--mysql %s=...: %s is not one of the clusters (%s)", c, c, strings.Join(cfg.Clusters, ", "))
		}
		if _, err := mysql.ParseDSN(dsn); err != nil {
			return nil, fmt.Errorf("--mysql %s=...: %w", c, err)
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	pkiDir := filepath.Join(cfg.Dir, "pki")
	if err := pki.CreateCA(pkiDir, "pbxtopo demo CA", 365*24*time.Hour); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	gossipKey := base64.StdEncoding.EncodeToString(key)
	e := &Enterprise{Tokens: map[string]string{}, Mode: cfg.Mode, Dir: cfg.Dir, MySQL: map[string]string{}}
	for c, dsn := range cfg.MySQL {
		d, _ := mysql.ParseDSN(dsn)
		e.MySQL[c] = d.String()
	}
	var tokens strings.Builder
	for _, role := range []string{"read", "operator", "admin"} {
		e.Tokens[role] = httpapi.NewToken()
		r, _ := service.ParseRole(role)
		fmt.Fprintln(&tokens, httpapi.TokenLine(r, "demo-"+role, e.Tokens[role])) // the file keeps hashes; demo.json the tokens
	}
	tokensFile := filepath.Join(cfg.Dir, "tokens")
	if err := os.WriteFile(tokensFile, []byte(tokens.String()), 0o600); err != nil {
		return nil, err
	}
	if cfg.StandIns && (len(cfg.Hosts) > 0 || !cfg.Seed) {
		return nil, fmt.Errorf("stand-in Asterisks need the seeded sample data on loopback (Seed, no Hosts)")
	}
	// Every node joins every other: none depends on one being up.
	var serfs []string
	for k := 0; k < len(cfg.Clusters)*cfg.Nodes; k++ {
		host, base := "127.0.0.1", cfg.PortBase+10*k
		if len(cfg.Hosts) > 0 {
			host, base = cfg.Hosts[k], cfg.PortBase
		}
		serfs = append(serfs, net.JoinHostPort(host, fmt.Sprint(base+3)))
	}
	probe := ""
	if cfg.StandIns {
		probe = "dns:\n  probe:\n    enabled: true\n    interval: 500ms\n    timeout: 300ms\n"
	}
	k := 0
	for _, c := range cfg.Clusters {
		if !pbx.IsLabel(c) {
			return nil, fmt.Errorf("cluster name %q: use lower-case letters, digits and '-'", c)
		}
		site := sampleSites[c]
		if site == "" {
			site = c
		}
		cl := &Cluster{Cluster: c, Site: site}
		if cfg.StandIns {
			cl.Asterisk = &StandIn{SIP: net.JoinHostPort("127.0.0.1", fmt.Sprint(cfg.PortBase+10*k+6)), bin: cfg.Binary,
				log: filepath.Join(cfg.Dir, c+"-asterisk.log")}
		}
		for n := 1; n <= cfg.Nodes; n++ {
			host, base := "127.0.0.1", cfg.PortBase+10*k
			if len(cfg.Hosts) > 0 {
				host, base = cfg.Hosts[k], cfg.PortBase
			}
			addr := func(port int) string { return net.JoinHostPort(host, fmt.Sprint(port)) }
			node := &Node{Cluster: c, Name: fmt.Sprintf("%s-%d", c, n), bin: cfg.Binary,
				HTTP: addr(base), DNS: addr(base + 1), Repl: addr(base + 2), Serf: addr(base + 3), Raft: addr(base + 4)}
			if cfg.Exec != nil {
				node.prefix = cfg.Exec(k)
			}
			localConf := ""
			if len(cfg.Hosts) == 0 { // on loopback: a DUNDi peer that answers the demo's lookups
				node.DUNDi = addr(base + 5)
				localConf = fmt.Sprintf(dundiTemplate, node.DUNDi, dundi.AgentEID(node.Name), LookupEID)
			} else { // network namespaces of a test bench: the API in clear between them
				localConf = "http:\n  insecure: true\n"
			}
			k++
			dir := filepath.Join(cfg.Dir, node.Name)
			node.DataDir, node.Config, node.Log = filepath.Join(dir, "data"), filepath.Join(dir, "pbxtopo.yaml"), filepath.Join(dir, "agent.log")
			certFile, keyFile, err := pki.CreateCert(pkiDir, dir, pki.CertRequest{Cluster: c, Node: node.Name, Hosts: []string{host}, Validity: 365 * 24 * time.Hour})
			if err != nil {
				return nil, err
			}
			var others []string
			for _, a := range serfs {
				if a != node.Serf {
					others = append(others, fmt.Sprintf("%q", a))
				}
			}
			join := ""
			if len(others) > 0 {
				join = "join: [" + strings.Join(others, ", ") + "]\n"
			}
			order := strings.Join(cfg.Clusters, ", ")
			conf := fmt.Sprintf(`# pbxtopo demo node %s
node: %s
cluster: %s
site: %s
data_dir: %q
http_addr: %s
repl_addr: %s
serf_addr: %s
raft_addr: %s
dns_addr: %s
%stokens: %q
raft:
  expect: %d
%sreplication:
  mode: %s
  order: [%s]
  primary: %s
  anti_entropy: 2s
  watermark: 10s
tls:
  ca: %q
  cert: %q
  key: %q
gossip:
  key: %q
  probe_interval: 400ms
  suspicion_mult: 2
%s%s%s`, node.Name, node.Name, c, site, node.DataDir, node.HTTP, node.Repl, node.Serf, node.Raft, node.DNS, join, tokensFile,
				cfg.Nodes, cfg.RaftExtra, cfg.Mode, order, cfg.Clusters[0], filepath.Join(pkiDir, pki.CAFile), certFile, keyFile, gossipKey, localConf, probe,
				cfg.Extra+cfg.ClusterExtra[c]+cfg.NodeExtra[node.Name])
			if dsn := cfg.MySQL[c]; dsn != "" {
				conf += fmt.Sprintf("mysql:\n  dsn: %q\n  min_backoff: 50ms\n", dsn)
				if cfg.MySQLMapping != "" {
					conf += fmt.Sprintf("  mapping: %q\n", cfg.MySQLMapping)
				}
			}
			if err := os.WriteFile(node.Config, []byte(conf), 0o600); err != nil {
				return nil, err
			}
			cl.Nodes = append(cl.Nodes, node)
		}
		e.Clusters = append(e.Clusters, cl)
	}
	if cfg.Seed {
		first := e.Clusters[0]
		vips := map[string]string{}
		for _, c := range e.Clusters {
			if c.Asterisk != nil {
				vips[c.Cluster] = c.Asterisk.SIP
			}
		}
		if err := seed(first.Nodes[0].DataDir, first.Cluster, first.Site, vips); err != nil {
			return nil, fmt.Errorf("seed the sample enterprise: %w", err)
		}
	}
	return e, nil
}

// seed imports the embedded sample enterprise into a new store, as an
// admin does before an agent's first start; vips gives clusters a voice
// VIP (host:port) of the demo's own.
func seed(dataDir, cluster, site string, vips map[string]string) error {
	cfg := store.DefaultConfig(filepath.Join(dataDir, "store.db"))
	cfg.Replica, cfg.Site = cluster, site
	st, err := store.Open(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := service.NewService(st)
	for _, t := range pbx.TableNames() {
		name := path.Join("testdata", "enterprise", t+".csv")
		f, err := pbxtopo.SampleEnterprise.Open(name)
		if err != nil {
			return err
		}
		_, err = svc.Import(service.WithAuthor(context.Background(), "demo-seed"), service.ImportRequest{Table: t, Source: name}, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	ctx := service.WithAuthor(context.Background(), "demo-seed")
	for c, vip := range vips {
		host, port, _ := net.SplitHostPort(vip)
		rec, err := svc.Get(ctx, pbx.Clusters.Name, c)
		if err != nil {
			continue // a cluster the sample does not describe
		}
		rec.Fields["voice_vip"], rec.Fields["sip_port"] = host, port
		if _, err := svc.Put(ctx, pbx.Clusters.Name, rec.Fields, service.PutOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// CheckPorts fails when a port the enterprise needs is taken.
func (e *Enterprise) CheckPorts() error {
	for _, n := range e.Nodes() {
		for _, a := range []string{n.HTTP, n.DNS, n.Repl, n.Serf, n.Raft} {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return fmt.Errorf("port %s is taken (%v): choose other ports with --port-base", a, err)
			}
			ln.Close()
		}
		for _, a := range []string{n.DNS, n.Serf, n.DUNDi, e.standInOf(n)} { // UDP too
			if a == "" {
				continue
			}
			pc, err := net.ListenPacket("udp", a)
			if err != nil {
				return fmt.Errorf("UDP port %s is taken (%v): choose other ports with --port-base", a, err)
			}
			pc.Close()
		}
	}
	return nil
}

// standInOf is the SIP address of the stand-in Asterisk a node's cluster
// runs on the node's ports ("" for none).
func (e *Enterprise) standInOf(n *Node) string {
	for _, c := range e.Clusters {
		if c.Asterisk != nil && c.Nodes[0] == n {
			return c.Asterisk.SIP
		}
	}
	return ""
}

// Nodes returns every node, cluster by cluster.
func (e *Enterprise) Nodes() []*Node {
	var out []*Node
	for _, c := range e.Clusters {
		out = append(out, c.Nodes...)
	}
	return out
}

// ClusterNames returns the names of the clusters the enterprise runs.
func (e *Enterprise) ClusterNames() []string {
	var out []string
	for _, c := range e.Clusters {
		out = append(out, c.Cluster)
	}
	return out
}

// Start starts every node's agent process, and the stand-in Asterisks.
func (e *Enterprise) Start() error {
	for _, c := range e.Clusters {
		if c.Asterisk != nil {
			if err := c.Asterisk.Start(); err != nil {
				e.Stop()
				return err
			}
		}
	}
	for _, n := range e.Nodes() {
		if err := n.Start(); err != nil {
			e.Stop()
			return err
		}
	}
	return nil
}

// process is a child process of the demo, its output going to a log file.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when it has ended
}

func (p *process) start(name, log string, args []string) (int, error) {
	logf, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	return cmd.Process.Pid, nil
}

func (p *process) signal(name string, sig syscall.Signal) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return errors.New(name + " is not running")
	}
	return p.cmd.Process.Signal(sig)
}

func (p *process) wait(name string, d time.Duration) error {
	select {
	case <-p.exited:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s did not stop within %s", name, d)
	}
}

// stop ends the process: SIGTERM, then SIGKILL after a grace period.
func (p *process) stop(name string) {
	if p.cmd != nil && p.signal(name, syscall.SIGTERM) == nil && p.wait(name, 10*time.Second) != nil {
		p.signal(name, syscall.SIGKILL)
		p.wait(name, 5*time.Second)
	}
}

// Start starts (or restarts) one node's agent process, its output going
// to its log file.
func (n *Node) Start() error {
	args := append(append([]string(nil), n.prefix...), n.bin, "agent", "--config", n.Config)
	pid, err := n.proc.start(n.Name, n.Log, args)
	if err == nil {
		n.PID = pid
	}
	return err
}

// Signal sends a signal to the node's process.
func (n *Node) Signal(sig syscall.Signal) error { return n.proc.signal(n.Name, sig) }

// Wait waits for the node's process to end, up to d.
func (n *Node) Wait(d time.Duration) error { return n.proc.wait(n.Name, d) }

// Start starts (or restarts) the stand-in Asterisk.
func (a *StandIn) Start() error {
	pid, err := a.proc.start("stand-in Asterisk "+a.SIP, a.log, []string{a.bin, "demo", "asterisk", "--sip", a.SIP})
	if err == nil {
		a.PID = pid
	}
	return err
}

// Signal sends a signal to the stand-in's process.
func (a *StandIn) Signal(sig syscall.Signal) error {
	return a.proc.signal("stand-in Asterisk "+a.SIP, sig)
}

// Wait waits for the stand-in's process to end, up to d.
func (a *StandIn) Wait(d time.Duration) error { return a.proc.wait("stand-in Asterisk "+a.SIP, d) }

// Stop stops every node, then the stand-in Asterisks: SIGTERM, then
// SIGKILL after a grace period.
func (e *Enterprise) Stop() {
	for _, n := range e.Nodes() {
		if n.proc.cmd != nil {
			n.Signal(syscall.SIGTERM)
		}
	}
	for _, n := range e.Nodes() {
		n.proc.stop(n.Name)
	}
	for _, c := range e.Clusters {
		if c.Asterisk != nil {
			c.Asterisk.proc.stop("stand-in Asterisk " + c.Asterisk.SIP)
		}
	}
}

// Client returns an API client for a node with a role's token.
func (e *Enterprise) Client(n *Node, role string) *httpapi.Client {
	c, _ := httpapi.NewClient(n.HTTP, e.Tokens[role])
	return c
}

// WaitReady polls until the enterprise is what `pbxtopo demo` promises:
// every node answers and holds as many extensions as the first node (the
// seed has replicated), the members are settled and the links are up; or
// ctx ends, and the error says which of these was still missing.
func (e *Enterprise) WaitReady(ctx context.Context) error {
	why := "no node polled yet"
	for ctx.Err() == nil {
		for _, n := range e.Nodes() {
			if n.proc.exited != nil {
				select {
				case <-n.proc.exited:
					return fmt.Errorf("agent %s stopped: %s", n.Name, lastLine(n.Log))
				default:
				}
			}
		}
		if why = e.notReady(ctx); why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the enterprise did not become ready: %w: %s (see the agent.log files in %s)", ctx.Err(), why, e.Dir)
}

// notReady says what the enterprise still lacks, or "".
func (e *Enterprise) notReady(ctx context.Context) string {
	want := -1 // the first node's count: it holds the seed
	for i, n := range e.Nodes() {
		page, err := e.Client(n, "read").List(ctx, "extensions", service.Query{Limit: 1})
		switch {
		case err != nil:
			return n.Name + " does not answer: " + err.Error()
		case i == 0 && page.Total == 0:
			return n.Name + " holds no extension yet"
		case i == 0:
			want = page.Total
		case page.Total != want:
			return fmt.Sprintf("%s holds %d extensions of %d", n.Name, page.Total, want)
		}
	}
	if why := e.membershipUnsettled(ctx); why != "" {
		return why
	}
	return e.linksDown(ctx)
}

// linksDown says which node that runs its cluster's replication does not
// pull from a peer, or from one of its sources, as `pbxtopo repl status`
// shows it ("" when none): the sources follow the verified members a
// moment after them.
func (e *Enterprise) linksDown(ctx context.Context) string {
	if len(e.Clusters) < 2 {
		return ""
	}
	for _, n := range e.Nodes() {
		st, err := e.Client(n, "read").ReplStatus(ctx)
		if err != nil {
			return n.Name + ": repl status: " + err.Error()
		}
		if st.RunsOn != "" {
			continue // a follower: its leader is checked
		}
		connected := 0
		for _, l := range st.Links {
			switch l.State {
			case replicator.LinkConnected:
				connected++
			case replicator.LinkWaiting, replicator.LinkFailing:
				return fmt.Sprintf("%s: link to %s %s: %s", n.Name, l.Peer, l.State, l.Detail)
			}
		}
		if connected == 0 {
			return n.Name + " pulls from no cluster yet"
		}
	}
	return ""
}

// membershipUnsettled says what is not yet settled in the first node's
// view of the members (what `pbxtopo members` prints), or "": every node
// alive with its certificate verified, and one Raft leader per cluster,
// the others followers. Gossip carries the Raft roles a moment after the
// elections.
func (e *Enterprise) membershipUnsettled(ctx context.Context) string {
	members, err := e.Client(e.Clusters[0].Nodes[0], "read").Members(ctx)
	if err != nil {
		return "members: " + err.Error()
	}
	if len(members) != len(e.Nodes()) {
		return fmt.Sprintf("%d members of %d", len(members), len(e.Nodes()))
	}
	leaders := map[string]int{}
	for _, m := range members {
		state := m.Tags[replicator.TagRaftState]
		if m.Status != "alive" || m.Certificate != "verified" || (state != "leader" && state != "follower") {
			return fmt.Sprintf("member %s: %s, certificate %q, Raft %q", m.Node, m.Status, m.Certificate, state)
		}
		if state == "leader" {
			leaders[m.Tags[replicator.TagCluster]]++
		}
	}
	for _, c := range e.Clusters {
		if leaders[c.Cluster] != 1 {
			return fmt.Sprintf("cluster %s has %d Raft leaders", c.Cluster, leaders[c.Cluster])
		}
	}
	return ""
}

// Health reports whether a node's API answers.
func Health(addr string) bool {
	resp, err := http.Get("http://" + addr + "/v1/health")
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// WriteJSON writes demo.json.
func (e *Enterprise) WriteJSON() error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(e.Dir, "demo.json"), b, 0o600)
}

// EnvFile is the shell file, in the enterprise's directory, that points
// the CLI at the first agent with the admin token (WriteEnv).
const EnvFile = "env.sh"

// DNSPortEnv names the first agent's DNS port in Env, for dig.
const DNSPortEnv = "DEMO_DNS_PORT"

// Env returns the environment that points the CLI at the first node of
// the first cluster with the admin token, and puts binDir (the binary's
// directory) first on the PATH, so "pbxtopo ..." runs as printed; and
// the first agent's DNS port for dig.
func (e *Enterprise) Env(binDir string) [][2]string {
	first := e.Clusters[0].Nodes[0]
	_, dnsPort, _ := net.SplitHostPort(first.DNS)
	return [][2]string{{"PATH", binDir + ":$PATH"}, {"PBXTOPO_ADDR", first.HTTP}, {"PBXTOPO_TOKEN", e.Tokens["admin"]},
		{DNSPortEnv, dnsPort}}
}

// WriteEnv writes Env as export lines to EnvFile, to source in a shell.
func (e *Enterprise) WriteEnv(binDir string) error {
	var b strings.Builder
	b.WriteString("# pbxtopo demo: source this file to point the CLI at the first agent\n")
	for _, kv := range e.Env(binDir) {
		v := kv[1]
		if kv[0] == "PATH" {
			v = shellQuote(binDir) + `:"$PATH"`
		} else {
			v = shellQuote(v)
		}
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], v)
	}
	return os.WriteFile(filepath.Join(e.Dir, EnvFile), []byte(b.String()), 0o600)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// lastLine is the last line of a log file: why an agent stopped.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "see " + path
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1] + " (" + path + ")"
}
