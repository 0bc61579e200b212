package replicator_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/replicator"
)

// fakeGossip is a membership set by hand: what anyone holding the gossip
// key could make the real one say.
type fakeGossip struct {
	mu      sync.Mutex
	members []replicator.Member
	changed chan struct{}
}

func newFakeGossip() *fakeGossip { return &fakeGossip{changed: make(chan struct{})} }

func (g *fakeGossip) Members() []replicator.Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]replicator.Member, len(g.members))
	copy(out, g.members)
	return out
}

func (g *fakeGossip) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

func (g *fakeGossip) set(ms ...replicator.Member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = ms
	close(g.changed)
	g.changed = make(chan struct{})
}

// tlsEndpoint serves TLS handshakes with a node's certificate, for both
// endpoint protocols, until the test ends or close is called.
func tlsEndpoint(t *testing.T, files pki.Files) (addr string, close func()) {
	t.Helper()
	cfg, err := pki.TLSConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NextProtos = []string{replicator.ProtoRepl, replicator.ProtoRaft}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	var once sync.Once
	close = func() { once.Do(func() { ln.Close() }) }
	t.Cleanup(close)
	return ln.Addr().String(), close
}

func member(node, cluster, status, addr string) replicator.Member {
	return replicator.Member{Node: node, Addr: "192.0.2.1:7946", Status: status,
		Tags: map[string]string{replicator.TagCluster: cluster, replicator.TagRole: "voice", replicator.TagRepl: addr, replicator.TagRaft: addr}}
}

// TestVerifiedCountsOnlyCertifiedMembers: gossip claims are checked
// against the certificates at the advertised addresses; only members
// whose certificate names their cluster and node count, and a member back
// from the dead is checked again before it counts.
func TestVerifiedCountsOnlyCertifiedMembers(t *testing.T) {
	dir := t.TempDir()
	caDir, otherCA := filepath.Join(dir, "ca"), filepath.Join(dir, "rogue-ca")
	for _, d := range []string{caDir, otherCA} {
		if err := pki.CreateCA(d, "test CA", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	self := cert(t, caDir, dir, "tpa1", "tpa1-1", time.Time{})
	good, _ := tlsEndpoint(t, cert(t, caDir, dir, "tpa1", "tpa1-2", time.Time{}))
	sfo, stopSfo := tlsEndpoint(t, cert(t, caDir, dir, "sfo", "sfo-1", time.Time{}))
	forged, _ := tlsEndpoint(t, cert(t, otherCA, t.TempDir(), "lon", "lon-1", time.Time{}))
	revoked, _ := tlsEndpoint(t, cert(t, caDir, dir, "ams", "ams-1", time.Time{}))
	nothing := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		a := ln.Addr().String()
		ln.Close()
		return a
	}()
	cfg, err := pki.TLSConfig(self)
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGossip()
	v := replicator.NewVerified(replicator.VerifiedConfig{Cluster: "tpa1", Retry: 20 * time.Millisecond, MaxRetry: 100 * time.Millisecond,
		Check: func(c *x509.Certificate) error {
			if id, _ := pki.IdentityOf(c); id.Cluster == "ams" {
				return fmt.Errorf("%w: ams", replicator.ErrRevoked)
			}
			return nil
		}}, g, replicator.NewTLSProber(cfg))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go v.Run(ctx)
	g.set(
		member("tpa1-2", "tpa1", "alive", good),
		member("sfo-1", "sfo", "alive", sfo),
		member("rogue-1", "tpa1", "alive", good),  // someone else's address
		member("sfo-9", "sfo", "alive", nothing),  // nothing answers there
		member("lon-1", "lon", "alive", forged),   // a certificate of another CA
		member("ams-1", "ams", "alive", revoked),  // a decommissioned cluster
		member("evil-1", "evil", "alive", forged), // a cluster nobody made
	)
	verdicts := func() map[string]string {
		out := map[string]string{}
		for _, m := range v.All() {
			out[m.Node] = m.Certificate
		}
		return out
	}
	waitVerified(t, "every member checked", func() bool {
		for _, c := range verdicts() {
			if c == replicator.CertChecking {
				return false
			}
		}
		return true
	})
	want := map[string]string{"tpa1-2": replicator.CertVerified, "sfo-1": replicator.CertVerified, "rogue-1": "presents the certificate of tpa1-2@tpa1",
		"sfo-9": "connection refused", "lon-1": "certificate", "ams-1": "decommissioned", "evil-1": "certificate"}
	for node, c := range verdicts() {
		if !strings.Contains(c, want[node]) || (want[node] != replicator.CertVerified && c == replicator.CertVerified) {
			t.Errorf("%s: %q, want %q", node, c, want[node])
		}
	}
	var names []string
	for _, c := range v.Clusters() {
		names = append(names, fmt.Sprintf("%s:%v", c.Name, c.Alive))
	}
	if got := strings.Join(names, " "); got != "sfo:true tpa1:true" {
		t.Fatalf("clusters = %s, want only the certified ones", got)
	}
	if v.Up("evil") || v.Up("lon") || v.Up("ams") || !v.Up("sfo") {
		t.Fatal("Up counts an uncertified cluster")
	}

	// sfo dies; someone takes its name and claim at the same address.
	stopSfo()
	g.set(member("tpa1-2", "tpa1", "alive", good), member("sfo-1", "sfo", "failed", sfo))
	waitVerified(t, "sfo down", func() bool {
		return !v.Up("sfo") && verdicts()["sfo-1"] == replicator.CertLapsed
	})
	g.set(member("tpa1-2", "tpa1", "alive", good), member("sfo-1", "sfo", "alive", sfo))
	waitVerified(t, "the returning sfo-1 checked again", func() bool {
		c := verdicts()["sfo-1"]
		return c != replicator.CertChecking && c != replicator.CertVerified
	})
	if v.Up("sfo") {
		t.Fatal("a member back from the dead counted before its certificate was checked")
	}
	if len(v.Members()) != 1 {
		t.Fatalf("members = %+v", v.Members())
	}
}

func waitVerified(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
	}
}
