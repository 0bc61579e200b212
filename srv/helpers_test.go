package srv

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

const zoneName = "voice.example.net."

// newStore returns an empty store in a temp dir.
func newStore(t testing.TB) *store.Store {
	t.Helper()
	cfg := store.DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
	cfg.Replica = "tpa1"
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sampleClusters are the guide's clusters (testdata/enterprise).
func sampleClusters(t testing.TB) []pbx.Fields {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "enterprise", "clusters.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []pbx.Fields
	if err := pbx.ReadCSV(f, "clusters.csv", pbx.Clusters, func(r pbx.Row) error {
		rows = append(rows, r.Fields)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

// putClusters writes cluster records.
func putClusters(t testing.TB, st *store.Store, rows ...pbx.Fields) {
	t.Helper()
	var muts []store.Mutation
	for _, f := range rows {
		muts = append(muts, store.Mutation{Table: "clusters", Key: f["name"], Value: f.AppendBinary(nil)})
	}
	if _, err := st.Write(context.Background(), "test", muts); err != nil {
		t.Fatal(err)
	}
}

// sampleStore is a store holding the guide's clusters.
func sampleStore(t testing.TB) *store.Store {
	st := newStore(t)
	putClusters(t, st, sampleClusters(t)...)
	return st
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.UDPWorkers = 2
	return cfg
}

// startServer starts a server on a free loopback port; it is closed at
// the end of the test.
func startServer(t *testing.T, st Source, h Health, edit func(*Config)) *Server {
	t.Helper()
	s := newTestServer(t, st, h, edit)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestServer returns a server not started yet, closed at the end of
// the test.
func newTestServer(t *testing.T, st Source, h Health, edit func(*Config)) *Server {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg, Deps{Source: st, Health: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ask sends one query over net ("udp" or "tcp") and returns the answer.
func ask(t *testing.T, addr netip.AddrPort, network, name string, qtype uint16, edit ...func(*dns.Msg)) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	for _, e := range edit {
		e(m)
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr.String())
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	if r.Id != m.Id {
		t.Fatalf("answer id %d, query id %d", r.Id, m.Id)
	}
	return r
}

// srvTargets lists an answer's SRV records as "priority target:port".
func srvTargets(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, strings.TrimSuffix(s.Target, "."+zoneName)+":"+itoa(int(s.Port))+"/"+itoa(int(s.Priority)))
		}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkGoroutines fails the test when goroutines outlive it: it waits for
// the count to come back to base.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bigEnterpriseRing has n clusters, each failing over to the next two.
func bigEnterpriseRing(n int) []pbx.Fields {
	var rows []pbx.Fields
	name := func(i int) string { return fmt.Sprintf("c%04d", i%n) }
	for i := 0; i < n; i++ {
		rows = append(rows, pbx.Fields{"name": name(i), "site": "s", "voice_vip": fmt.Sprintf("10.%d.%d.1", i/250, i%250),
			"failover": name(i+1) + "," + name(i+2)})
	}
	return rows
}
