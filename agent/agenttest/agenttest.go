// Package agenttest runs real agents in tests: a store through Raft,
// replication over mutual TLS and Serf membership, on free local ports.
package agenttest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
	"github.com/spf13/viper"
)

// Options shape a test agent; zero values take the defaults.
type Options struct {
	Host    string         // every address's host; 127.0.0.1
	Node    string         // the node's name; CLUSTER-1
	DataDir string         // a new temporary directory
	Join    []string       // gossip addresses to join
	Extra   map[string]any // more config keys, set last
}

// gossipKey encrypts the gossip of every agent a test process starts.
var gossipKey = func() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}()

// GossipKey is the gossip key of the agents Start makes.
func GossipKey() string { return gossipKey }

// Config returns the configuration of node o.Node of cluster, with a
// certificate of the CA in caDir, fast failure detection, and every
// address on a port free for TCP and UDP.
func Config(t testing.TB, caDir, cluster string, o Options) agent.Config {
	t.Helper()
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.Node == "" {
		o.Node = cluster + "-1"
	}
	cert, key, err := pki.CreateCert(caDir, t.TempDir(), pki.CertRequest{Cluster: cluster, Node: o.Node, Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	agent.Defaults(v)
	for k, val := range map[string]any{
		"cluster": cluster, "site": cluster, "node": o.Node, "data_dir": o.DataDir,
		"http_addr": net.JoinHostPort(o.Host, "0"), "repl_addr": testnet.FreeAddr(t, o.Host), "serf_addr": testnet.FreeAddr(t, o.Host),
		"raft_addr": testnet.FreeAddr(t, o.Host), "dns_addr": testnet.FreeAddr(t, o.Host),
		"tls.ca": filepath.Join(caDir, pki.CAFile), "tls.cert": cert, "tls.key": key,
		"join": o.Join, "replication.pull_wait": "1s", "gossip.probe_interval": "200ms", "gossip.key": gossipKey,
	} {
		v.Set(k, val)
	}
	for k, val := range o.Extra {
		v.Set(k, val)
	}
	cfg, err := agent.LoadConfig(v)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Start runs an agent of cluster until the test ends or stop is called.
func Start(t testing.TB, caDir, cluster string, o Options) (a *agent.Agent, stop func()) {
	t.Helper()
	var err error
	for try := 0; ; try++ { // a free port may be taken before the agent binds it
		if a, err = agent.New(Config(t, caDir, cluster, o), slog.New(slog.DiscardHandler), agent.Options{}); err == nil {
			break
		}
		if try == 3 {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", cluster, err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}
