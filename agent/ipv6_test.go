package agent

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/spf13/viper"
)

// TestAgentsOverIPv6 runs two agents whose every address (API,
// replication, gossip, Raft, DNS) is on [::1]: they find each other
// through gossip and replicate a cluster with IPv6 voice addresses.
func TestAgentsOverIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	a, _ := startTestAgent(t, caDir, "::1", "tpa1", nil, nil)
	b, _ := startTestAgent(t, caDir, "::1", "sfo", []string{a.cfg.SerfAddr}, nil)
	ctx := context.Background()
	for _, f := range []struct {
		table string
		rec   pbx.Fields
	}{
		{"sites", pbx.Fields{"name": "tpa"}},
		{"clusters", pbx.Fields{"name": "v6", "site": "tpa", "voice_vip": "2001:db8::10", "voice_servers": "2001:db8::1,2001:db8::2"}},
	} {
		if _, err := a.Service().Put(ctx, f.table, f.rec, PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if v, err := b.Service().Get(ctx, "clusters", "v6"); err == nil && v.Fields["voice_vip"] == "2001:db8::10" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cluster written at tpa1 did not reach sfo over IPv6")
		}
		time.Sleep(50 * time.Millisecond)
	}
	members, err := b.Service().Members(ctx)
	if err != nil || len(members) != 2 {
		t.Fatalf("members seen by sfo: %v %v", members, err)
	}
}

func freeAddr(t *testing.T, host string) string {
	return testnet.FreeAddr(t, host)
}

// startTestAgent runs a real agent with every address on host until the
// test ends or stop is called; extra sets more config keys.
func startTestAgent(t *testing.T, caDir, host, cluster string, join []string, extra map[string]any) (ag *Agent, stop func()) {
	t.Helper()
	dir := t.TempDir()
	cert, key, err := pki.CreateCert(caDir, dir, pki.CertRequest{Cluster: cluster, Node: cluster + "-1", Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	Defaults(v)
	for k, val := range map[string]any{
		"cluster": cluster, "site": cluster, "node": cluster + "-1", "data_dir": dir,
		"http_addr": net.JoinHostPort(host, "0"), "repl_addr": freeAddr(t, host), "serf_addr": freeAddr(t, host),
		"raft_addr": freeAddr(t, host), "dns_addr": freeAddr(t, host),
		"tls.ca": filepath.Join(caDir, pki.CAFile), "tls.cert": cert, "tls.key": key,
		"join": join, "replication.pull_wait": "1s", "gossip.probe_interval": "200ms",
	} {
		v.Set(k, val)
	}
	for k, val := range extra {
		v.Set(k, val)
	}
	cfg, err := LoadConfig(v)
	if err != nil {
		t.Fatal(err)
	}
	ag, err = New(cfg, slog.New(slog.DiscardHandler), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
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
	return ag, stop
}
