package replicator_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// syncBuffer is a log sink the server goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type tlsEnv struct {
	dir     string
	srv     *httptest.Server
	st      *store.Store
	logs    *syncBuffer
	maxSize int
}

func cert(t *testing.T, caDir, outDir, cluster, node string, notAfter time.Time) pki.Files {
	t.Helper()
	c, k, err := pki.CreateCert(caDir, outDir, pki.CertRequest{Cluster: cluster, Node: node, Validity: time.Hour, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return pki.Files{CA: filepath.Join(caDir, pki.CAFile), Cert: c, Key: k}
}

// newTLSEnv serves the replication endpoint of cluster tpa1 over mutual TLS.
func newTLSEnv(t *testing.T, maxMessage int) *tlsEnv {
	t.Helper()
	e := &tlsEnv{dir: t.TempDir(), logs: &syncBuffer{}, maxSize: maxMessage}
	if err := pki.CreateCA(filepath.Join(e.dir, "ca"), "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	files := cert(t, filepath.Join(e.dir, "ca"), e.dir, "tpa1", "tpa1-1", time.Time{})
	srvTLS, err := pki.TLSConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	cfg := store.DefaultConfig(filepath.Join(e.dir, "store.db"))
	cfg.Replica = "tpa1"
	if e.st, err = store.Open(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.st.Close() })
	rc := replicator.DefaultConfig("tpa1", "tpa")
	rc.MaxMessage = maxMessage
	r, err := replicator.New(rc, replicator.Deps{Store: e.st, Membership: staticMembers{}, Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(r.Handler())
	// httptest serves its own certificate when Certificates is empty (the
	// node's configuration gives its certificate through GetCertificate).
	pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	srvTLS.Certificates = []tls.Certificate{pair}
	e.srv.TLS = srvTLS
	e.srv.Config.ErrorLog = log.New(e.logs, "", 0)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	return e
}

type staticMembers struct{}

func (staticMembers) Clusters() []replicator.ClusterView { return nil }
func (staticMembers) Changed() <-chan struct{}           { return make(chan struct{}) }

func (e *tlsEnv) addr() string { return strings.TrimPrefix(e.srv.URL, "https://") }

func (e *tlsEnv) transport(t *testing.T, f pki.Files) *replicator.HTTPTransport {
	t.Helper()
	c, err := pki.TLSConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := replicator.NewHTTPTransport(c, 0, nil)
	t.Cleanup(tr.Close)
	return tr
}

func TestMutualTLSAcceptsOnlyTheEnterprise(t *testing.T) {
	e := newTLSEnv(t, replicator.MaxMessage)
	if _, err := e.st.Write(bg, "t", []store.Mutation{{Table: "extensions", Key: "k", Value: pbx.Fields{"a": "b"}.AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	good := e.transport(t, cert(t, filepath.Join(e.dir, "ca"), e.dir, "sfo", "sfo-1", time.Time{}))
	resp, err := good.Pull(bg, e.addr(), &replicator.PullRequest{From: "sfo"})
	if err != nil || len(resp.Changes) != 1 {
		t.Fatalf("pull with a good certificate = %v, %v", resp, err)
	}
	// A certificate for sfo claiming to be lon.
	if _, err := good.Pull(bg, e.addr(), &replicator.PullRequest{From: "lon"}); err == nil || !strings.Contains(err.Error(), "certificate of cluster sfo") {
		t.Fatalf("impersonation = %v", err)
	}
	// Another CA.
	if err := pki.CreateCA(filepath.Join(e.dir, "other"), "other CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	stranger := cert(t, filepath.Join(e.dir, "other"), filepath.Join(e.dir, "o"), "sfo", "sfo-1", time.Time{})
	stranger.CA = filepath.Join(e.dir, "ca", pki.CAFile) // it trusts us, we do not trust it
	if _, err := e.transport(t, stranger).Pull(bg, e.addr(), &replicator.PullRequest{From: "sfo"}); err == nil {
		t.Fatal("a certificate of another CA was accepted")
	}
	// An expired certificate: TLSConfig refuses to load it, so build the
	// client config by hand to present it anyway.
	expired := cert(t, filepath.Join(e.dir, "ca"), filepath.Join(e.dir, "x"), "sfo", "sfo-2", time.Now().Add(-time.Minute))
	pair, _ := tls.LoadX509KeyPair(expired.Cert, expired.Key)
	good2, _ := pki.TLSConfig(cert(t, filepath.Join(e.dir, "ca"), filepath.Join(e.dir, "y"), "sfo", "sfo-3", time.Time{}))
	good2.Certificates, good2.GetClientCertificate = []tls.Certificate{pair}, nil
	if _, err := replicator.NewHTTPTransport(good2, 0, nil).Pull(bg, e.addr(), &replicator.PullRequest{From: "sfo"}); err == nil {
		t.Fatal("an expired certificate was accepted")
	}
	// No certificate at all.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	r, err := hc.Post(e.srv.URL+"/repl/v1/pull", "application/octet-stream", bytes.NewReader(replicator.EncodePullRequest(&replicator.PullRequest{From: "sfo"})))
	if err == nil {
		r.Body.Close()
		t.Fatal("a client without a certificate was served")
	}
	logs := e.logs.String()
	for _, want := range []string{"replication request refused", "TLS handshake error"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %q in the logs:\n%s", want, logs)
		}
	}
	if _, err := pki.TLSConfig(expired); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("loading an expired certificate = %v", err)
	}
}

func TestBadMessagesAreRefusedAndChangeNothing(t *testing.T) {
	e := newTLSEnv(t, 4096)
	files := cert(t, filepath.Join(e.dir, "ca"), e.dir, "sfo", "sfo-1", time.Time{})
	c, _ := pki.TLSConfig(files)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: true}}
	good := replicator.EncodePullRequest(&replicator.PullRequest{From: "sfo"})
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-6] ^= 0xff
	big := replicator.EncodePullRequest(&replicator.PullRequest{From: "sfo", Scopes: []string{strings.Repeat("x", 255), strings.Repeat("y", 255)},
		Summary: bigSummary(200)})
	for name, body := range map[string][]byte{
		"garbage":   []byte("GET / HTTP/1.0\r\n\r\n"),
		"truncated": good[:len(good)-3],
		"checksum":  corrupt,
		"oversized": big,
	} {
		resp, err := hc.Post(e.srv.URL+"/repl/v1/pull", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 && resp.StatusCode != 413 {
			t.Errorf("%s: status %d (%s), want 400 or 413", name, resp.StatusCode, msg)
		}
	}
	if got := e.st.Summary(); len(got) != 0 {
		t.Fatalf("a refused message changed the store: %v", got)
	}
	if n := strings.Count(e.logs.String(), "replication request refused"); n < 4 {
		t.Fatalf("%d refusals logged, want 4:\n%s", n, e.logs.String())
	}
}

func bigSummary(n int) store.Summary {
	s := store.Summary{}
	for i := 0; i < n; i++ {
		s[store.MakeStream("c"+strings.Repeat("x", i%50), uint64(i+1), "")] = uint64(i)
	}
	return s
}

func FuzzDecodePullResponse(f *testing.F) {
	f.Add(replicator.EncodePullResponse(&replicator.PullResponse{From: "tpa1", Summary: store.Summary{"tpa1.0000000000000001": 3},
		Changes: []*store.Change{{Dot: store.Dot{Stream: "tpa1.0000000000000001", Seq: 3}, TxSeq: 3, TxSize: 1, Table: "t", Key: "k", Value: []byte{1}}}}))
	f.Add([]byte("PBXR"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := replicator.DecodePullResponse(bytes.NewReader(b), 1<<20)
		if err != nil {
			if !errors.Is(err, replicator.ErrMessage) && !errors.Is(err, replicator.ErrTooLarge) && !errors.Is(err, replicator.ErrVersion) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		again, err := replicator.DecodePullResponse(bytes.NewReader(replicator.EncodePullResponse(p)), 1<<20)
		if err != nil || len(again.Changes) != len(p.Changes) {
			t.Fatalf("re-encoding %v: %v", p, err)
		}
	})
}

func FuzzDecodePullRequest(f *testing.F) {
	f.Add(replicator.EncodePullRequest(&replicator.PullRequest{From: "sfo", Scopes: []string{""}, Origins: []string{"tpa1"},
		Summary: store.Summary{"tpa1.0000000000000001": 3}, MaxBytes: 1 << 20, Wait: time.Second}))
	f.Fuzz(func(t *testing.T, b []byte) {
		replicator.DecodePullRequest(bytes.NewReader(b), 1<<20)
		replicator.DecodeSnapshotRequest(bytes.NewReader(b), 1<<20)
		replicator.DecodeSnapshotPage(bytes.NewReader(b), 1<<20)
		replicator.DecodeDigests(bytes.NewReader(b), 1<<20)
	})
}
