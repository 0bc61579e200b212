package agent_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/internal/pki"
)

// TestCertificateExpiryAndRotation: a node certificate that ends in 10
// days shows in the expiry metric and as a status warning; a new
// certificate written over the files and a reload (SIGHUP) put it in use
// without a restart: the replication endpoint presents it, and the
// warning is gone.
func TestCertificateExpiryAndRotation(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", 5*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	cfg := agenttest.Config(t, caDir, "tpa1", agenttest.Options{})
	certDir := t.TempDir()
	issue := func(days int) {
		c, k, err := pki.CreateCert(caDir, t.TempDir(), pki.CertRequest{Cluster: "tpa1", Node: "tpa1-1", Validity: time.Duration(days) * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for src, dst := range map[string]string{c: filepath.Join(certDir, "node.crt"), k: filepath.Join(certDir, "node.key")} {
			data, _ := os.ReadFile(src)
			if err := os.WriteFile(dst, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	issue(10)
	cfg.TLS.Cert, cfg.TLS.Key = filepath.Join(certDir, "node.crt"), filepath.Join(certDir, "node.key")
	a, err := agent.New(cfg, slog.New(slog.DiscardHandler), agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	expiry := func() float64 {
		body := scrape(t, a)
		m := regexp.MustCompile(`pbxtopo_tls_cert_expiry_seconds\{cert="node"\} (\S+)`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no node certificate expiry in the metrics:\n%s", body)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	warning := func() string {
		rep, err := a.Service().StatusReport(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rep.Problems {
			if strings.Contains(p, "certificate node") {
				return p
			}
		}
		return ""
	}
	served := func() time.Time {
		c, err := tls.Dial("tcp", a.ReplAddr(), clientTLS(t, caDir))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].NotAfter
	}
	if d := expiry() / 86400; d < 9 || d > 10 {
		t.Fatalf("node certificate expiry metric: %.1f days, want 10", d)
	}
	if w := warning(); !strings.Contains(w, "(in 9 days)") || !strings.Contains(w, "SIGHUP") {
		t.Fatalf("status warning %q, want one 10 days ahead saying what to do", w)
	}
	if ca := regexp.MustCompile(`pbxtopo_tls_cert_expiry_seconds\{cert="ca"\}`); !ca.MatchString(scrape(t, a)) {
		t.Fatal("no CA expiry in the metrics")
	}

	old := served()
	issue(365)
	if err := a.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if now := served(); !now.After(old.Add(300 * 24 * time.Hour)) {
		t.Fatalf("after the reload the endpoint still presents the certificate ending %s", now)
	}
	if d := expiry() / 86400; d < 364 {
		t.Fatalf("after the reload the metric says %.1f days", d)
	}
	if w := warning(); w != "" {
		t.Fatalf("after the reload: %q", w)
	}
	// A certificate naming another node is refused; the one in use stays.
	c, k, _ := pki.CreateCert(caDir, t.TempDir(), pki.CertRequest{Cluster: "tpa1", Node: "tpa1-9", Validity: 24 * time.Hour})
	for src, dst := range map[string]string{c: cfg.TLS.Cert, k: cfg.TLS.Key} {
		data, _ := os.ReadFile(src)
		os.WriteFile(dst, data, 0o600)
	}
	if err := a.Reload(ctx, cfg); err == nil || !strings.Contains(err.Error(), "tpa1-9") {
		t.Fatalf("reload with another node's certificate: %v", err)
	}
	if d := expiry() / 86400; d < 364 {
		t.Fatalf("a refused certificate replaced the one in use: %.1f days", d)
	}
}

func scrape(t *testing.T, a *agent.Agent) string {
	t.Helper()
	resp, err := http.Get("http://" + a.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// clientTLS is the TLS configuration of another node of the enterprise.
func clientTLS(t *testing.T, caDir string) *tls.Config {
	t.Helper()
	c, k, err := pki.CreateCert(caDir, t.TempDir(), pki.CertRequest{Cluster: "sfo", Node: "sfo-1", Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.TLSConfig(pki.Files{CA: filepath.Join(caDir, pki.CAFile), Cert: c, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
