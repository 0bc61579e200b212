package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/httpapi/ui"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore"
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/pbxtopo/pbxtopo/store"
)

// Agent is one pbxtopo node: it owns the store, replication, membership
// and the HTTP servers, built from one Config.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	st       *store.Store     // the local store (reads)
	rs       *raftstore.Store // the store through Raft (writes)
	rep      *replicator.Replicator
	members  *replicator.Serf     // gossip: who says they are there
	verified *replicator.Verified // who their certificates confirm: what counts
	tr       *replicator.HTTPTransport
	tlsCfg   *tls.Config // the node certificate's: replication, Raft, membership probes
	svc      *service.Service
	dns      *srv.Server
	checker  *srv.Checker
	auth     *httpapi.TokenAuth
	metrics  *Metrics
	keys     *secrets.Keyring  // seals secrets at rest; nil without secrets.key_file
	audit    *service.AuditLog // DATA_DIR/audit.log
	certs    agentCerts        // the certificates in use (certs.go)
	opts     Options
	parts    parts
	tagMu    sync.Mutex // one change of this node's gossip tags at a time

	apiLn, replLn net.Listener
	apiSrv        *http.Server
	replSrv       *http.Server

	mu     sync.Mutex
	closed bool
}

// Options are how the process runs the agent, beside its Config.
type Options struct {
	// WebPages serves the web pages under /ui/ (the binary does; tests
	// that only use the API leave them out).
	WebPages bool
	// Level is the log level a reload may change.
	Level *slog.LevelVar
}

// New builds an agent: it opens the store and binds every listener, so
// that address conflicts and bad settings fail here, before Run.
func New(cfg Config, log *slog.Logger, opts Options) (*Agent, error) {
	a := &Agent{cfg: cfg, log: log, opts: opts}
	if err := a.build(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) build() error {
	for _, step := range []func() error{a.buildStore, a.buildMembership, a.buildRaft, a.buildReplication, a.buildDNS,
		a.buildService, a.buildAPI} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// buildStore checks the node's certificate and opens the local store.
func (a *Agent) buildStore() error {
	cfg := a.cfg
	var err error
	var nodeCert *pki.KeyPair
	a.tlsCfg, nodeCert, err = pki.NodeTLS(pki.Files{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key})
	if err != nil {
		return err
	}
	if err := a.ownIdentity(nodeCert.Leaf()); err != nil {
		return err
	}
	a.certs.node = nodeCert
	if a.certs.cas, err = pki.ReadCAs(cfg.TLS.CA); err != nil {
		return fmt.Errorf("tls.ca: %w", err)
	}
	sc := store.DefaultConfig(filepath.Join(cfg.DataDir, "store.db"))
	sc.Replica, sc.Site = cfg.Cluster, cfg.Site
	sc.HistoryRetention = cfg.Replication.HistoryRetention
	sc.MaxLogEntries, sc.MinFreeBytes, sc.DiskProbe = cfg.Store.MaxLogEntries, int64(cfg.Store.MinFreeMB)<<20, cfg.Store.DiskProbe
	sc.Logger = a.log.With("subsystem", "store")
	sc.SiteTables = func(t string) bool { return a.rep != nil && a.rep.SiteOnly(t) }
	if err := a.loadSecrets(&sc); err != nil {
		return err
	}
	if a.st, err = store.Open(sc); err != nil {
		return err
	}
	return a.st.MarkAgent()
}

// buildMembership joins nothing yet: it makes the gossip membership and
// the view of it that certificates confirm.
func (a *Agent) buildMembership() error {
	cfg := a.cfg
	tags := map[string]string{
		replicator.TagCluster: cfg.Cluster, replicator.TagSite: cfg.Site, replicator.TagRole: cfg.Role,
		replicator.TagRepl: cfg.ReplAddr, replicator.TagHTTP: cfg.HTTPAddr, replicator.TagDNS: cfg.DNSAddr,
		replicator.TagRaft: cfg.RaftAddr,
	}
	key, err := gossipKey(cfg)
	if err != nil {
		return err
	}
	if key == nil && cfg.Gossip.Insecure {
		a.log.Warn("gossip travels in clear and any host may join the membership (gossip.insecure); membership only hints: certificates decide")
	}
	if a.members, err = replicator.NewSerf(replicator.SerfConfig{
		Node: cfg.Node, BindAddr: cfg.SerfAddr, Tags: tags, GossipKey: key,
		KeyringFile: filepath.Join(cfg.DataDir, "gossip.keyring"), ProbeInterval: cfg.Gossip.ProbeInterval,
		SuspicionMult: cfg.Gossip.SuspicionMult, SnapshotPath: filepath.Join(cfg.DataDir, "gossip.snapshot"),
		RestartGrace: cfg.Gossip.RestartGrace, Logger: a.log.With("subsystem", "gossip"),
	}); err != nil {
		return err
	}
	a.verified = replicator.NewVerified(replicator.VerifiedConfig{Cluster: cfg.Cluster, Logger: a.log.With("subsystem", "membership"),
		Check: func(c *x509.Certificate) error { return a.rep.CheckCertificate(c) }}, a.members, replicator.NewTLSProber(a.tlsCfg))
	a.tr = replicator.NewHTTPTransport(a.tlsCfg, 0, a.log)
	return nil
}

// buildRaft makes the cluster's consensus over the local store.
func (a *Agent) buildRaft() error {
	cfg, tlsCfg := a.cfg, a.tlsCfg
	rcfg := raftstore.DefaultConfig(cfg.Node, cfg.Cluster, filepath.Join(cfg.DataDir, "raft"))
	rcfg.BindAddr, rcfg.TLS, rcfg.Expect, rcfg.StartTimeout = cfg.RaftAddr, tlsCfg, cfg.Raft.Expect, cfg.Raft.StartTimeout
	rcfg.SnapshotThreshold, rcfg.TrailingLogs = cfg.Raft.SnapshotThreshold, cfg.Raft.TrailingLogs
	if cfg.Raft.HeartbeatTimeout > 0 {
		rcfg.HeartbeatTimeout, rcfg.ElectionTimeout = cfg.Raft.HeartbeatTimeout, cfg.Raft.HeartbeatTimeout
		rcfg.LeaderLease = cfg.Raft.HeartbeatTimeout / 2
	}
	rdeps := raftstore.Deps{Store: a.st, Peers: raftPeers{a.verified, cfg.Cluster}, Forwarder: raftstore.NewHTTPForwarder(tlsCfg),
		Logger: a.log.With("subsystem", "raft"), ObserveCommit: func(d time.Duration) {
			if a.metrics != nil {
				a.metrics.ObserveCommit(d)
			}
		}}
	if a.keys != nil {
		rdeps.Sealer = a.keys
	}
	var err error
	a.rs, err = raftstore.New(rcfg, rdeps)
	return err
}

// buildReplication makes the replicator between clusters, over Raft.
func (a *Agent) buildReplication() error {
	cfg := a.cfg
	var err error
	rc := replicator.DefaultConfig(cfg.Cluster, cfg.Site)
	rc.Default = cfg.Topology()
	rc.PullWait = cfg.Replication.PullWait
	rc.AntiEntropy = cfg.Replication.AntiEntropy
	rc.Watermark = cfg.Replication.Watermark
	rc.StatusInterval = cfg.Replication.StatusInterval
	rc.HistoryRetention = cfg.Replication.HistoryRetention
	if a.rep, err = replicator.New(rc, replicator.Deps{Store: a.rs, Transport: a.tr, Membership: a.verified,
		Logger: a.log.With("subsystem", "replication")}); err != nil {
		return err
	}
	a.tr.SetCertificateCheck(a.rep.CheckCertificate) // the revocation list, both ways
	return nil
}

// buildDNS makes the health checker, the optional parts (they need it) and
// the DNS server.
func (a *Agent) buildDNS() error {
	cfg := a.cfg
	var err error
	dnsCfg := cfg.DNS
	dnsCfg.Addr, dnsCfg.Node = cfg.DNSAddr, cfg.Node
	if a.checker, err = srv.NewChecker(dnsCfg.Checker(), srv.CheckerDeps{Members: a.verified, Asterisk: asteriskView{a.verified},
		Source: a.st, Logger: a.log.With("subsystem", "health")}); err != nil {
		return err
	}
	if err := a.buildParts(); err != nil {
		return err
	}
	if a.dns, err = srv.New(dnsCfg, srv.Deps{Source: a.rs, Health: a.checker, Logger: a.log.With("subsystem", "dns")}); err != nil {
		return err
	}
	return nil
}

// buildService makes the audit log and the service every front end calls.
func (a *Agent) buildService() error {
	cfg := a.cfg
	var err error
	if a.audit, err = service.OpenAuditLog(filepath.Join(cfg.DataDir, "audit.log"), a.log.With("subsystem", "audit")); err != nil {
		return err
	}
	if cfg.HTTPTLS.Cert != "" {
		if a.certs.api, err = pki.LoadKeyPair(cfg.HTTPTLS.Cert, cfg.HTTPTLS.Key); err != nil {
			return fmt.Errorf("http_tls: %w", err)
		}
	}
	a.svc = service.NewServiceWith(a.rs, service.Deps{Repl: a.rep, Members: a.verified.All, Digests: a.digests, Keys: a.members,
		Raft: a.rs, Cluster: cfg.Cluster, Node: cfg.Node, AMI: a.parts.collector != nil, Audit: a.audit, Certs: a.certs.list,
		Published: a.publishedReport, MySQL: a.bridgeStatus})
	return nil
}

// buildAPI binds the API and replication listeners (an address in use
// fails here, before Run) and makes their HTTP servers.
func (a *Agent) buildAPI() error {
	cfg := a.cfg
	var err error
	var auth httpapi.Authenticator
	if cfg.Tokens != "" {
		tokens, err := httpapi.ParseTokens(cfg.Tokens)
		if err != nil {
			return err
		}
		a.auth = httpapi.NewTokenAuth(nil, a.log.With("subsystem", "http"))
		a.auth.SetTokenHashes(tokens.Tokens)
		httpapi.WarnClearTokens(a.log, cfg.Tokens, tokens)
		auth = a.auth
	} else if !isLoopback(cfg.HTTPAddr) {
		return fmt.Errorf("http_addr %s is not a loopback address and no tokens file is set: set tokens, or bind to 127.0.0.1", cfg.HTTPAddr)
	} else {
		a.log.Warn("no tokens file: every local caller of the API is admin", "http_addr", cfg.HTTPAddr)
	}
	if a.apiLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return fmt.Errorf("http_addr: %w", err)
	}
	if bound := a.apiLn.Addr().String(); bound != cfg.HTTPAddr { // port 0: advertise the port it got
		if err := a.setTag(replicator.TagHTTP, bound); err != nil {
			return err
		}
	}
	if a.replLn, err = net.Listen("tcp", cfg.ReplAddr); err != nil {
		return fmt.Errorf("repl_addr: %w", err)
	}
	a.svc.UseDNS(a.dns, a.checker)
	a.metrics = NewMetrics(MetricSources{Store: a.st, Repl: a.rep, Raft: a.rs, Members: a.knownMembers, Certs: a.certs.list,
		Findings: (&findingsCache{svc: a.svc}).get})
	a.metrics.reg.MustRegister(&partsCollector{dns: a.dns, checker: a.checker, dundi: a.parts.dundi, ami: a.parts.collector,
		bridge: a.parts.bridge})
	hopts := httpapi.HandlerOptions{Auth: auth, Metrics: httpapi.NewMetrics(a.metrics.Registry()), Shed: cfg.HTTP.Shed}
	if a.opts.WebPages {
		if hopts.Pages, err = ui.New(ui.DefaultConfig(), ui.Deps{Data: a.svc, Auth: auth, Cluster: cfg.Cluster, Node: cfg.Node,
			Audit: a.svc.AuditLog(), Roaming: ui.RoamingFrom(a.svc), Audits: a.svc, DNS: ui.DNSFrom(a.svc), Services: ui.ServicesFrom(a.svc),
			Agents: ui.AgentsFrom(a.svc), Log: a.log.With("subsystem", "ui")}); err != nil {
			return err
		}
	}
	a.apiSrv = &http.Server{Handler: httpapi.HandlerWith(a.svc, hopts), ReadHeaderTimeout: 10 * time.Second}
	if a.certs.api != nil {
		if a.apiSrv.TLSConfig, err = apiTLS(cfg, a.certs.api); err != nil {
			return err
		}
	}
	repl := http.NewServeMux()
	repl.Handle("/repl/", a.rep.Handler())
	repl.Handle(raftstore.ForwardPath, a.rs.Handler())
	repl.Handle(raftstore.ReadIndexPath, a.rs.Handler())
	a.replSrv = &http.Server{Handler: repl, TLSConfig: a.tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(a.log.With("subsystem", "replication").Handler(), slog.LevelWarn)}
	return nil
}

// apiTLS is the API's TLS configuration: its certificate (replaced by a
// reload), and client certificates required when http_tls.client_ca is set.
func apiTLS(cfg Config, pair *pki.KeyPair) (*tls.Config, error) {
	c := &tls.Config{GetCertificate: pair.GetCertificate, MinVersion: tls.VersionTLS12}
	if cfg.HTTPTLS.ClientCA != "" {
		pem, err := os.ReadFile(cfg.HTTPTLS.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("http_tls.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http_tls.client_ca %s holds no PEM certificate", cfg.HTTPTLS.ClientCA)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// ownIdentity checks that a node certificate names this agent's cluster
// and node: the other agents check it against the name it gossips.
func (a *Agent) ownIdentity(leaf *x509.Certificate) error {
	id, err := pki.IdentityOf(leaf)
	if err != nil || id.Cluster != a.cfg.Cluster || id.Node != a.cfg.Node {
		return fmt.Errorf("tls.cert names %v, but this agent is node %s of cluster %s (the others check it): make its certificate with 'pbxtopo tls cert create --cluster %s --node %s'",
			id, a.cfg.Node, a.cfg.Cluster, a.cfg.Cluster, a.cfg.Node)
	}
	return nil
}

// gossipKey returns the gossip encryption key. Without one, gossip would
// travel in clear and anyone on the network could join the membership:
// that is refused unless gossip.insecure says it is meant, or the
// keyring file of an earlier start (key rotation) holds the keys.
func gossipKey(cfg Config) ([]byte, error) {
	if cfg.Gossip.Key != "" {
		return replicator.DecodeGossipKey(cfg.Gossip.Key)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "gossip.keyring")); err == nil {
		return nil, nil
	}
	if !cfg.Gossip.Insecure {
		return nil, fmt.Errorf("gossip.key is empty: membership would travel in clear and any host could join it; " +
			"give every agent the same key (make one with 'pbxtopo gossip keygen'), or set gossip.insecure: true for a demo or test bench")
	}
	return nil, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// Service returns the agent's service (tests drive it directly).
func (a *Agent) Service() *service.Service { return a.svc }

// Store returns the agent's store.
func (a *Agent) Store() *store.Store { return a.st }

// Replicator returns the agent's replicator.
func (a *Agent) Replicator() *replicator.Replicator { return a.rep }

// APIAddr and ReplAddr return the bound addresses (useful with port 0).
func (a *Agent) APIAddr() string  { return a.apiLn.Addr().String() }
func (a *Agent) ReplAddr() string { return a.replLn.Addr().String() }

// GossipAddr is the membership address other agents join.
func (a *Agent) GossipAddr() string { return a.cfg.SerfAddr }

// Run serves until ctx ends, then shuts down in order: stop taking API
// requests (answering those in flight), stop replication, tell the
// membership this node restarts (it is no departure: the others keep its
// cluster up for gossip.restart_grace, and it rejoins them from its
// snapshot), close the store. An acknowledged write is on disk before its
// answer, so none is lost.
func (a *Agent) Run(ctx context.Context) error {
	errc := make(chan error, 8)
	go func() {
		if a.apiSrv.TLSConfig != nil {
			errc <- serve(a.apiSrv.ServeTLS(a.apiLn, "", ""))
			return
		}
		errc <- serve(a.apiSrv.Serve(a.apiLn))
	}()
	go func() { errc <- serve(a.replSrv.ServeTLS(a.replLn, "", "")) }()
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); a.rs.Run(bg) }()
	go func() { defer wg.Done(); a.leadership(bg) }()
	go func() { defer wg.Done(); a.checker.Run(bg) }()
	go func() {
		defer wg.Done()
		// DNS answers, NOTIFYs and the parts' writes start once the store
		// caught up with the cluster's log: never from an older state.
		if a.rs.WaitReady(bg) != nil {
			return
		}
		a.runParts(bg, &wg, errc)
		if err := a.dns.Run(bg); err != nil {
			errc <- fmt.Errorf("dns: %w", err)
		}
	}()
	wg.Add(1)
	go func() { defer wg.Done(); a.verified.Run(bg) }()
	if c := a.parts.collector; c != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.reportAsterisk(bg, c.Client()) }()
	}
	go a.members.JoinUntil(ctx, a.cfg.Join)
	a.log.Info("agent running", "cluster", a.cfg.Cluster, "node", a.cfg.Node, "api", a.APIAddr(), "repl", a.ReplAddr(),
		"gossip", a.cfg.SerfAddr, "mode", a.rep.Topology().Mode)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.log.Info("agent stopping")
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.apiSrv.Shutdown(shut)
	stopBG()
	wg.Wait()
	a.replSrv.Shutdown(shut)
	a.closeParts()
	if serr := a.members.Stop(); serr != nil {
		a.log.Warn("telling the members this node restarts", "err", serr)
	}
	return errors.Join(err, a.Close())
}

func serve(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Reload applies what may change at run time (SIGHUP): the tokens file,
// the log level, the node's and the API's certificates (read again from
// their files: rotation without a restart), and the replication mode,
// order and primary (written to the replicated topology record, so every
// cluster follows). Other keys need a restart; a reload that cannot apply
// changes nothing.
func (a *Agent) Reload(ctx context.Context, cfg Config) error {
	var tokens *httpapi.TokensFile
	if cfg.Tokens != "" {
		var err error
		if tokens, err = httpapi.ParseTokens(cfg.Tokens); err != nil {
			return err
		}
		httpapi.WarnClearTokens(a.log, cfg.Tokens, tokens)
		if a.auth == nil {
			return fmt.Errorf("tokens: the agent started without a tokens file; restart it to turn authentication on")
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return fmt.Errorf("log.level %q: use debug, info, warn or error", cfg.Log.Level)
	}
	if cfg.TLS != a.cfg.TLS || cfg.HTTPTLS != a.cfg.HTTPTLS {
		return fmt.Errorf("tls and http_tls name other files: restart the agent to use them (a reload reads the same files again)")
	}
	if err := a.certs.node.Reload(a.ownIdentity); err != nil {
		return fmt.Errorf("tls.cert: %w", err)
	}
	if a.certs.api != nil {
		if err := a.certs.api.Reload(nil); err != nil {
			return fmt.Errorf("http_tls.cert: %w", err)
		}
	}
	if old, next := a.cfg.Topology(), cfg.Topology(); !topologyEqual(old, next) {
		if _, err := a.svc.SetTopology(service.WithRole(ctx, service.RoleAdmin, "config reload"), service.TopologyChange{Mode: string(next.Mode),
			Order: next.Order, Primary: next.Primary, SiteTables: next.SiteTables, Force: true}); err != nil { // the operator's own file
			return fmt.Errorf("replication settings: %w", err)
		}
		a.log.Info("replication topology changed by a reload", "mode", next.Mode, "order", next.Order, "primary", next.Primary)
	}
	n := 0
	if tokens != nil {
		a.auth.SetTokenHashes(tokens.Tokens)
		n = len(tokens.Tokens)
	}
	if a.opts.Level != nil {
		a.opts.Level.Set(level)
	}
	a.cfg.Tokens, a.cfg.Log, a.cfg.Replication = cfg.Tokens, cfg.Log, cfg.Replication
	a.log.Info("configuration reloaded", "tokens", n, "log_level", level, "node_cert_expires", a.certs.node.Leaf().NotAfter.UTC().Format(time.DateOnly))
	return nil
}

func topologyEqual(a, b replicator.Topology) bool {
	return a.Mode == b.Mode && a.Primary == b.Primary && fmt.Sprint(a.Order) == fmt.Sprint(b.Order) &&
		fmt.Sprint(a.SiteTables) == fmt.Sprint(b.SiteTables)
}

// Close releases everything. Safe to call twice.
func (a *Agent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var errs []error
	if a.rs != nil {
		errs = append(errs, a.rs.Close())
	}
	if a.members != nil {
		a.members.Close()
	}
	if a.tr != nil {
		a.tr.Close()
	}
	for _, ln := range []net.Listener{a.apiLn, a.replLn} {
		if ln != nil {
			ln.Close()
		}
	}
	if a.st != nil {
		errs = append(errs, a.st.Close())
	}
	errs = append(errs, a.audit.Close())
	return errors.Join(errs...)
}

// leadership runs the cross-cluster replicator while this node leads its
// cluster (it is the cluster's replicator; the others follow through Raft)
// and tells the others this node's Raft state through a gossip tag. The
// leader's work starts only after a barrier: every entry committed by
// earlier leaders is applied here first, so the MySQL bridge resumes from
// its latest checkpoint and nothing pulls from an older state.
func (a *Agent) leadership(ctx context.Context) {
	type leaderWork struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var work *leaderWork // while this node leads
	halt := func() {
		if work != nil {
			work.cancel()
			<-work.done
			work = nil
			a.log.Info("this node no longer leads the cluster", "state", a.rs.State())
		}
	}
	defer halt()
	if a.rs.WaitReady(ctx) != nil {
		return
	}
	leaderCh := a.rs.LeaderCh()
	leads := a.rs.IsLeader()
	tick := time.NewTicker(time.Second) // the state tag also follows follower ↔ candidate
	defer tick.Stop()
	state := ""
	for {
		if now := a.rs.State(); now != state {
			state = now
			a.setTag(replicator.TagRaftState, state)
		}
		switch {
		case leads && work == nil:
			if err := a.rs.Barrier(10 * time.Second); err != nil {
				a.log.Warn("leading, but the barrier before replication failed; trying again", "err", err)
				break
			}
			rctx, cancel := context.WithCancel(ctx)
			work = &leaderWork{cancel, make(chan struct{})}
			go func(done chan struct{}) {
				defer close(done)
				var lw sync.WaitGroup
				lw.Add(1)
				go func() { defer lw.Done(); a.leaderParts(rctx) }()
				a.rep.Run(rctx)
				lw.Wait()
			}(work.done)
			a.log.Info("this node leads the cluster: replication with the other clusters runs here")
		case !leads:
			halt()
		}
		select {
		case <-ctx.Done():
			return
		case leads = <-leaderCh:
		case <-tick.C:
			leads = a.rs.IsLeader()
		}
	}
}

// raftPeers are the nodes of this cluster whose certificates back their
// claim (replicator.Verified): gossip alone never makes a voter.
type raftPeers struct {
	m       interface{ Members() []replicator.Member }
	cluster string
}

func (p raftPeers) Peers() []raftstore.Peer {
	var out []raftstore.Peer
	for _, m := range p.m.Members() {
		if m.Tags[replicator.TagCluster] == p.cluster {
			out = append(out, raftstore.Peer{Node: m.Node, RaftAddr: m.Tags[replicator.TagRaft],
				ReplAddr: m.Tags[replicator.TagRepl], Alive: m.Status == "alive"})
		}
	}
	return out
}

// knownMembers are the members whose certificates were verified, alive
// or not (the metrics count them by status; an unverified claim is no
// node of the enterprise).
func (a *Agent) knownMembers() []replicator.Member {
	var out []replicator.Member
	for _, m := range a.verified.All() {
		if m.Certificate == replicator.CertVerified || m.Certificate == replicator.CertLapsed {
			out = append(out, m)
		}
	}
	return out
}

// digests asks every live cluster's replication endpoint for its digests.
func (a *Agent) digests(ctx context.Context) []service.PeerDigests {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []service.PeerDigests
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range a.verified.Clusters() {
		if c.Name == a.cfg.Cluster {
			continue
		}
		if !c.Alive || len(c.Addrs) == 0 {
			out = append(out, service.PeerDigests{Cluster: c.Name, Err: fmt.Errorf("not alive in the membership")})
			continue
		}
		wg.Add(1)
		go func(c replicator.ClusterView) {
			defer wg.Done()
			d, err := a.tr.Digests(ctx, c.Addrs[0])
			mu.Lock()
			out = append(out, service.PeerDigests{Cluster: c.Name, Addr: c.Addrs[0], Reply: d, Err: err})
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	return out
}
