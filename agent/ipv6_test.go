package agent_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/service"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
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
	a, _ := agenttest.Start(t, caDir, "tpa1", agenttest.Options{Host: "::1"})
	b, _ := agenttest.Start(t, caDir, "sfo", agenttest.Options{Host: "::1", Join: []string{a.GossipAddr()}})
	ctx := context.Background()
	for _, f := range []struct {
		table string
		rec   pbx.Fields
	}{
		{"sites", pbx.Fields{"name": "tpa"}},
		{"clusters", pbx.Fields{"name": "v6", "site": "tpa", "voice_vip": "2001:db8::10", "voice_servers": "2001:db8::1,2001:db8::2"}},
	} {
		if _, err := a.Service().Put(ctx, f.table, f.rec, service.PutOptions{}); err != nil {
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
