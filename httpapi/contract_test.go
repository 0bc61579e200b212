package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

// examplePath fills a route pattern's wildcards with sample values.
var exampleValues = map[string]string{
	"{key...}": "tpa1/6109", "{table}": "hotdesks", "{ref...}": "extensions/tpa1/6109", "{change}": "tpa1.0000000000000001:1",
	"{node}": "tpa1-9", "{op}": "install", "{finding}": "SEC-WEAK-PIN:lon:5021",
}

func examplePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	for k, v := range exampleValues {
		path = strings.ReplaceAll(path, k, v)
	}
	if strings.Contains(path, "/tables/hotdesks/") {
		path = strings.Replace(path, "tpa1/6109", "tpa1/5811", 1)
	}
	return method, path
}

// TestEveryRouteChecksItsRole sends every route of the API a request
// without a token and with each role's token: no token is 401, a role
// below the route's is 403, and a role at or above it gets past the check.
func TestEveryRouteChecksItsRole(t *testing.T) {
	svc, _ := sampleService(t)
	tokens := map[string]Token{"read-token-0123456789": {service.RoleRead, "noc"}, "oper-token-0123456789": {service.RoleOperator, "op"},
		"admin-token-0123456789": {service.RoleAdmin, "root"}}
	byRole := map[service.Role]string{}
	for tok, v := range tokens {
		byRole[v.Role] = tok
	}
	srv := httptest.NewServer(Handler(svc, NewTokenAuthLimit(tokens, slog.New(slog.DiscardHandler), 1000)))
	defer srv.Close()
	do := func(method, path, token string) int { return statusOf(t, method, srv.URL+path, token, "{}") }
	for _, rt := range routes(svc) {
		method, path := examplePath(rt.Pattern)
		if rt.Role == service.RoleNone {
			continue
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			if got := do(method, path, ""); got != 401 {
				t.Errorf("no token: %d, want 401", got)
			}
			for _, role := range []service.Role{service.RoleRead, service.RoleOperator, service.RoleAdmin} {
				got := do(method, path, byRole[role])
				need := rt.Role
				if strings.Contains(rt.Pattern, "/v1/tables/{table}") && method != "GET" {
					need = service.RoleOperator // hot desks; other tables need admin (tested below)
				}
				switch {
				case !role.Allows(need) && got != 403:
					t.Errorf("%s: %d, want 403", role, got)
				case role.Allows(need) && (got == 401 || got == 403):
					t.Errorf("%s: %d, want past the role check", role, got)
				}
			}
		})
	}
	if got := do("DELETE", "/v1/tables/trunks/tpa2/TELNYX-1", byRole[service.RoleOperator]); got != 403 {
		t.Errorf("operator deleting a trunk: %d, want 403", got)
	}
}

// TestReadRoleNeverSeesASecret reads every GET route with the read role
// and looks for every secret of the sample enterprise in the answers.
func TestReadRoleNeverSeesASecret(t *testing.T) {
	svc, _ := sampleService(t)
	var secrets []string
	for _, table := range []*pbx.Table{pbx.Extensions, pbx.Trunks} {
		fh, _ := os.Open(filepath.Join("..", "testdata", "enterprise", table.Name+".csv"))
		pbx.ReadCSV(fh, "x", table, func(r pbx.Row) error {
			for _, f := range table.Fields {
				if v := r.Fields[f.Name]; f.Secret && len(v) >= 6 {
					secrets = append(secrets, v)
				}
			}
			return nil
		})
		fh.Close()
	}
	if len(secrets) < 40 {
		t.Fatalf("found only %d secrets in the sample", len(secrets))
	}
	tokens := map[string]Token{"read-token-0123456789": {service.RoleRead, "noc"}}
	srv := httptest.NewServer(Handler(svc, NewTokenAuth(tokens, slog.New(slog.DiscardHandler))))
	defer srv.Close()
	paths := []string{"/v1/extensions", "/v1/extensions/tpa1/6109", "/v1/tables/trunks", "/v1/tables/trunks/tpa2/TELNYX-1",
		"/v1/history/extensions/tpa1/6109", "/v1/conflicts", "/v1/roaming", "/v1/audit", "/v1/export", "/v1/tables/extensions"}
	for _, rt := range routes(svc) {
		if m, p := examplePath(rt.Pattern); m == "GET" && !strings.Contains(p, "{") {
			paths = append(paths, p)
		}
	}
	leak := regexp.MustCompile(strings.Join(quoteAll(secrets), "|"))
	for _, p := range paths {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.Header.Set("Authorization", "Bearer read-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := leak.Find(body); m != nil {
			t.Errorf("GET %s shows a secret to the read role", p)
		}
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = regexp.QuoteMeta(s)
	}
	return out
}

// TestFailedAuthIsLimitedAndLogged: unknown and wrong tokens get the same
// answer, every failure is logged for fail2ban, after the limit the
// address's failures get 429, and a good token from the same address
// still passes (every local user shares 127.0.0.1). The health check
// needs no token and is no failure.
func TestFailedAuthIsLimitedAndLogged(t *testing.T) {
	svc, _ := sampleService(t)
	var logs bytes.Buffer
	auth := NewTokenAuth(map[string]Token{"good-token-0123456789": {service.RoleAdmin, "root"}}, slog.New(slog.NewTextHandler(&logs, nil)))
	srv := httptest.NewServer(Handler(svc, auth))
	defer srv.Close()
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	for i := 0; i < 20; i++ {
		if c, b := get("/v1/health", ""); c != 200 {
			t.Fatalf("health without a token: %d %s", c, b)
		}
	}
	c1, b1 := get("/v1/extensions", "no-such-token-0123456789")
	c2, b2 := get("/v1/extensions", "good-token-012345678X")
	if c1 != 401 || c2 != 401 || b1 != b2 {
		t.Fatalf("unknown and wrong tokens answered differently: %d %q / %d %q", c1, b1, c2, b2)
	}
	for i := 0; i < 8; i++ {
		get("/v1/extensions", "wrong")
	}
	if c, _ := get("/v1/extensions", "wrong-again"); c != 429 {
		t.Fatalf("after 10 failures a wrong token got %d, want 429", c)
	}
	if c, b := get("/v1/extensions", "good-token-0123456789"); c != 200 {
		t.Fatalf("after 10 failures the good token got %d %s, want 200", c, b)
	}
	if n := strings.Count(logs.String(), `msg="authentication failed" client=127.0.0.1`); n != 10 {
		t.Fatalf("%d failures logged, want 10:\n%s", n, logs.String())
	}
}

// statusOf sends a JSON body to url with the token (none when empty) and
// returns the answer's status.
func statusOf(t *testing.T, method, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
