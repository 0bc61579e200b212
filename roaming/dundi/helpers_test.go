package dundi

import (
	"context"
	"crypto/rsa"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

var (
	eidA = EID{2, 0, 0, 0, 0, 0x0a}
	eidB = EID{2, 0, 0, 0, 0, 0x0b}
)

func keyPath(name string) string { return filepath.Join("testdata", "encrypted", "keys", name) }

func privKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	k, err := LoadPrivateKey(keyPath(name + ".key"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubKey(t testing.TB, name string) *rsa.PublicKey {
	t.Helper()
	k, err := LoadPublicKey(keyPath(name + ".pub"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// cluster and ext describe test records.
type cluster struct{ name, vip, failover string }

type ext struct {
	cluster, number, mailbox string
	roaming                  bool
}

// newStore makes a store holding the clusters and extensions.
func newStore(t testing.TB, clusters []cluster, exts []ext) *store.Store {
	t.Helper()
	cfg := store.DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
	cfg.Replica = "test"
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var muts []store.Mutation
	for _, c := range clusters {
		f := pbx.Fields{"name": c.name, "site": c.name, "voice_vip": c.vip, "failover": c.failover}
		muts = append(muts, store.Mutation{Table: pbx.Clusters.Name, Key: c.name, Value: f.Compact().AppendBinary(nil)})
	}
	for _, e := range exts {
		muts = append(muts, extMutation(e))
	}
	if _, err := st.Write(context.Background(), "test", muts); err != nil {
		t.Fatal(err)
	}
	return st
}

func extMutation(e ext) store.Mutation {
	roam := "no"
	if e.roaming {
		roam = "yes"
	}
	f := pbx.Fields{"cluster": e.cluster, "regexten": e.number, "mailbox": e.mailbox, "roaming": roam, "name": "User " + e.number}
	return store.Mutation{Table: pbx.Extensions.Name, Key: e.cluster + "/" + e.number, Value: f.Compact().AppendBinary(nil)}
}

// health is a settable Health.
type health struct {
	mu   sync.Mutex
	down map[string]bool
}

func (h *health) Up(c string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.down[c]
}

func (h *health) set(c string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down == nil {
		h.down = map[string]bool{}
	}
	h.down[c] = !up
}

// staticDir answers from a fixed table.
type staticDir map[string][]Answer

func (d staticDir) Lookup(ctx context.Context, number, dcontext string) ([]Answer, error) {
	if dcontext != "priv" {
		return nil, ErrUnknownContext
	}
	return d[number], nil
}

// startPeer makes a peer on a free loopback port and runs it until the
// test ends.
func startPeer(t testing.TB, cfg Config, deps Deps) *Peer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if deps.Logger == nil {
		deps.Logger = quietLog()
	}
	p, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawConn is a bare UDP socket for sending crafted packets.
type rawConn struct {
	t testing.TB
	c *net.UDPConn
}

func newRaw(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t, c}
}

func (r *rawConn) addr() netip.AddrPort { return r.c.LocalAddr().(*net.UDPAddr).AddrPort() }

func (r *rawConn) send(to netip.AddrPort, b []byte) {
	r.t.Helper()
	if _, err := r.c.WriteToUDPAddrPort(b, to); err != nil {
		r.t.Fatal(err)
	}
}

// recv reads one packet, failing the test after the timeout.
func (r *rawConn) recv(timeout time.Duration) []byte {
	r.t.Helper()
	b, ok := r.tryRecv(timeout)
	if !ok {
		r.t.Fatalf("no packet within %s", timeout)
	}
	return b
}

func (r *rawConn) tryRecv(timeout time.Duration) ([]byte, bool) {
	buf := make([]byte, 65536)
	r.c.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := r.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, false
	}
	return buf[:n], true
}

func mustDecode(t testing.TB, b []byte) (*Frame, *Message) {
	t.Helper()
	f, err := DecodeFrame(b)
	if err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	m, err := ParseMessage(f)
	if err != nil {
		t.Fatalf("parse %x: %v", b, err)
	}
	return f, m
}

// plainPeerCfg is a clear peer on loopback.
func plainPeerCfg(eid EID, addr netip.AddrPort, model string) PeerConfig {
	pc := PeerConfig{EID: eid.String(), Host: addr.String(), Model: model, Unencrypted: true, AllowFrom: []string{"127.0.0.1"}}
	if model != "outbound" {
		pc.Permit = []string{"priv"}
	}
	if model != "inbound" {
		pc.Include = []string{"priv"}
	}
	return pc
}

func fieldsOf(kv ...string) []byte {
	f := pbx.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	return f.Compact().AppendBinary(nil)
}
