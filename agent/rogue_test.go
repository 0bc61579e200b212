package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

const lookupEID = "02:00:00:00:de:01"

// TestRogueMemberChangesNothing: a host with the right gossip key but no
// certificate joins and claims to be a node of the live single-node
// cluster tpa1 and of the dead cluster sfo, borrowing real agents' names
// and addresses. Gossip carries its claims, yet tpa1's Raft keeps its one
// voter (writes go on), and neither the DNS SRV answers nor the DUNDi
// answers bring sfo back.
func TestRogueMemberChangesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two agents")
	}
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	dnsAddr, dundiAddr := testnet.FreeAddr(t, "127.0.0.1"), testnet.FreeAddr(t, "127.0.0.1")
	tpa1, _ := agenttest.Start(t, caDir, "tpa1", agenttest.Options{Extra: map[string]any{
		"dns_addr": dnsAddr, "dundi.addr": dundiAddr, "dundi.eid": "02:00:00:00:99:01", "dundi.secret": "x",
		"gossip.restart_grace": "100ms", // a stop is a departure here: the test kills sfo
		"dundi.mappings":       []map[string]any{{"context": "priv", "tech": "IAX2", "destination": "dundi:${SECRET}@${IPADDR}/${NUMBER}"}},
		"dundi.peers": []map[string]any{{"eid": lookupEID, "host": "dynamic", "model": "inbound", "permit": []string{"priv"},
			"unencrypted": true, "allow_from": []string{"127.0.0.1"}}},
	}})
	sfo, stopSfo := agenttest.Start(t, caDir, "sfo", agenttest.Options{Join: []string{tpa1.GossipAddr()}})
	ctx := context.Background()
	svc := tpa1.Service()
	for _, f := range []struct {
		table string
		rec   pbx.Fields
	}{
		{"sites", pbx.Fields{"name": "tpa"}},
		{"clusters", pbx.Fields{"name": "sfo", "site": "tpa", "voice_vip": "192.0.2.2"}},
		{"clusters", pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "192.0.2.1", "failover": "sfo"}},
		{"extensions", pbx.Fields{"cluster": "tpa1", "regexten": "7000", "name": "Roamer", "roaming": "yes"}},
		{"extensions", pbx.Fields{"cluster": "sfo", "regexten": "7000", "name": "Roamer", "roaming": "yes"}},
	} {
		if _, err := svc.Put(ctx, f.table, f.rec, service.PutOptions{Must: store.MustNotExist}); err != nil {
			t.Fatal(err)
		}
	}
	srvHasSfo := func() bool { return strings.Contains(querySRV(t, dnsAddr), "192.0.2.2") }
	dundiHasSfo := func() bool { return slices.Contains(lookupDUNDi(t, dundiAddr), "sfo") }
	waitUntil(t, 20*time.Second, "sfo in the SRV and DUNDi answers while it runs", func() bool { return srvHasSfo() && dundiHasSfo() })
	sfoRepl := sfo.ReplAddr()
	stopSfo()
	waitUntil(t, 20*time.Second, "sfo dropped from the SRV and DUNDi answers once it stopped", func() bool { return !srvHasSfo() && !dundiHasSfo() })

	// The rogue: the gossip key, no certificate. Its Raft and
	// replication addresses are its own listener or a real agent's.
	rogueLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rogueLn.Close()
	go func() {
		for {
			c, err := rogueLn.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	key, err := replicator.DecodeGossipKey(agenttest.GossipKey())
	if err != nil {
		t.Fatal(err)
	}
	rogue := func(node, cluster, repl string) {
		m, err := replicator.NewSerf(replicator.SerfConfig{Node: node, BindAddr: testnet.FreeAddr(t, "127.0.0.1"), GossipKey: key,
			ProbeInterval: 200 * time.Millisecond, Tags: map[string]string{replicator.TagCluster: cluster, replicator.TagSite: "tpa",
				replicator.TagRole: "voice", replicator.TagRepl: repl, replicator.TagRaft: rogueLn.Addr().String()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		if _, err := m.Join([]string{tpa1.GossipAddr()}); err != nil {
			t.Fatal(err)
		}
	}
	rogue("tpa1-2", "tpa1", tpa1.ReplAddr()) // a new node of tpa1, showing tpa1-1's certificate
	rogue("tpa1-3", "tpa1", rogueLn.Addr().String())
	rogue("sfo-1", "sfo", sfoRepl) // the dead node's own name and address
	rogue("sfo-2", "sfo", tpa1.ReplAddr())

	// Every rogue is alive in gossip and refused, except that gossip may
	// refuse sfo-1's name itself: the stopped node keeps it while it is
	// "failed" (a stop is a restart, not a departure).
	rogues := []string{"tpa1-2", "tpa1-3", "sfo-1", "sfo-2"}
	waitUntilSays(t, 20*time.Second, "every rogue alive in gossip, and refused", func() bool {
		ms, _ := svc.Members(ctx)
		refused := 0
		for _, m := range ms {
			switch {
			case !slices.Contains(rogues, m.Node):
			case m.Status == "alive" && m.Certificate != "" && m.Certificate != replicator.CertChecking && m.Certificate != replicator.CertVerified,
				m.Node == "sfo-1" && m.Status != "alive":
				refused++
			}
		}
		return refused == len(rogues)
	}, func() string { ms, _ := svc.Members(ctx); return fmt.Sprintf("%+v", ms) })
	ms, _ := svc.Members(ctx)
	gossip := map[string]bool{}
	for _, c := range replicator.ClustersOf(ms) {
		gossip[c.Name] = c.Alive
	}
	if !gossip["sfo"] {
		t.Fatalf("gossip alone does not show sfo alive; the test proves nothing: %+v", ms)
	}
	for _, m := range ms {
		t.Logf("%s %s %s: %s", m.Node, m.Tags[replicator.TagCluster], m.Status, m.Certificate)
	}

	// The leader adds a new node of its cluster within a second of
	// seeing it (raftstore's addNewPeers runs every 500 ms): watch it for
	// several rounds.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		st, err := svc.RaftStatus(ctx)
		if err != nil || len(st.Servers) != 1 || st.Servers["tpa1-1"] != "Voter" || st.State != "leader" {
			t.Fatalf("tpa1's Raft: %+v %v, want tpa1-1 alone, leading", st, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := svc.Put(wctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "7001", "name": "After"}, service.PutOptions{Must: store.MustNotExist}); err != nil {
		t.Fatalf("a write after the rogues joined: %v", err)
	}
	if srvHasSfo() || dundiHasSfo() {
		t.Fatal("the rogue brought the dead sfo back into the SRV or DUNDi answers")
	}
	for _, l := range tpa1.Replicator().Status() {
		if l.Peer == "sfo" {
			t.Fatalf("tpa1 replicates with the rogue sfo: %+v", l)
		}
	}
}

// querySRV asks a DNS server for tpa1's SIP/UDP SRV records and returns
// the answer as text.
func querySRV(t *testing.T, addr string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("_sip._udp.tpa1.voice.example.net.", dns.TypeSRV)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		return ""
	}
	return r.String()
}

// lookupDUNDi asks a DUNDi peer for 7000@priv and returns the clusters
// that answer (by their voice VIP in the destination).
func lookupDUNDi(t *testing.T, addr string) []string {
	t.Helper()
	peer, err := dundi.ParseEID("02:00:00:00:99:01")
	if err != nil {
		t.Fatal(err)
	}
	p, err := dundi.New(dundi.Config{Addr: "127.0.0.1:0", EID: lookupEID, TTL: 8,
		Peers: []dundi.PeerConfig{{EID: peer.String(), Host: addr, Model: "outbound", Include: []string{"priv"}, Unencrypted: true}}}, dundi.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done; p.Close() }()
	lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
	defer lcancel()
	res, _ := p.Lookup(lctx, "7000", "priv", dundi.LookupOptions{Bypass: true})
	var out []string
	if res != nil {
		for _, r := range res.Results {
			switch {
			case strings.Contains(r.Dest, "192.0.2.1"):
				out = append(out, "tpa1")
			case strings.Contains(r.Dest, "192.0.2.2"):
				out = append(out, "sfo")
			}
		}
	}
	return out
}
