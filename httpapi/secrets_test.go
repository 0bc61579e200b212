package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/prometheus/client_golang/prometheus"
)

// TestSecretsSealedNeverLeak runs the API over a store sealed with a key
// and looks for every secret of the sample enterprise in the store file,
// a backup, the logs, /metrics, error answers and the read role's answers.
func TestSecretsSealedNeverLeak(t *testing.T) {
	var plain []string
	for _, table := range []*pbx.Table{pbx.Extensions, pbx.Trunks} {
		fh, err := os.Open(filepath.Join("..", "testdata", "enterprise", table.Name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		pbx.ReadCSV(fh, "x", table, func(r pbx.Row) error {
			for _, f := range table.Fields {
				if v := r.Fields[f.Name]; f.Secret && len(v) >= 8 {
					plain = append(plain, v)
				}
			}
			return nil
		})
		fh.Close()
	}
	if len(plain) < 20 {
		t.Fatalf("found only %d secrets in the sample", len(plain))
	}
	leak := containsAny(plain)

	k, _ := secrets.NewKey()
	kr, err := secrets.New(k)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	path := filepath.Join(t.TempDir(), "store.db")
	cfg := store.DefaultConfig(path)
	cfg.Replica, cfg.Sealer, cfg.Logger = "tpa1", kr, log
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := service.NewService(st)
	for _, table := range pbx.TableNames() {
		p := filepath.Join("..", "testdata", "enterprise", table+".csv")
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Import(context.Background(), service.ImportRequest{Table: table, Source: p}, fh); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	tokens := map[string]Token{"read-token-0123456789": {service.RoleRead, "noc"}, "oper-token-0123456789": {service.RoleOperator, "ops"}}
	m := NewMetrics(prometheus.NewRegistry())
	srv := httptest.NewServer(HandlerWith(svc, HandlerOptions{Auth: NewTokenAuth(tokens, log), Metrics: m}))
	defer srv.Close()
	call := func(method, p, token, body string) (int, []byte) {
		req, _ := http.NewRequest(method, srv.URL+p, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	// The admin export shows secrets: the store opens them.
	if f, _, err := st.Get("extensions", "tpa2/5020"); err != nil || !leak.Match([]byte(f["secret"])) {
		t.Fatalf("a sealed record does not read back: %v", err)
	}
	// An invalid write that carries a secret: the error must not echo it.
	bad := "Zz9!" + strings.Repeat("q", 100) // over the 80-character limit of secret
	code, b := call("PUT", "/v1/extensions/tpa2/5020", "oper-token-0123456789", `{"secret":"`+bad+`"}`)
	if code < 400 || bytes.Contains(b, []byte(bad)) {
		t.Errorf("bad secret write: %d %s", code, b)
	}
	paths := []string{"/v1/extensions", "/v1/extensions/tpa2/5020", "/v1/tables/trunks", "/v1/history/extensions/tpa2/5020",
		"/v1/export", "/v1/tables/extensions", "/metrics"}
	for _, rt := range routes(svc) {
		if m, p := examplePath(rt.Pattern); m == "GET" && !strings.Contains(p, "{") {
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		if _, b := call("GET", p, "read-token-0123456789", ""); leak.Match(b) {
			t.Errorf("GET %s shows a secret to the read role", p)
		}
	}
	var backup bytes.Buffer
	if _, err := st.WriteTo(&backup); err != nil {
		t.Fatal(err)
	}
	if leak.Match(backup.Bytes()) {
		t.Error("a backup holds a secret in plaintext")
	}
	if leak.Match(logs.Bytes()) || bytes.Contains(logs.Bytes(), []byte(bad)) {
		t.Error("the logs hold a secret")
	}
	st.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if leak.Match(raw) {
		t.Error("the store file holds a secret in plaintext")
	}
}

// matcher finds any of a set of strings (a regexp of 100 alternatives is
// far too slow over a store file).
type matcher []string

func containsAny(ss []string) matcher { return matcher(ss) }

func (m matcher) Match(b []byte) bool {
	for _, s := range m {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}
