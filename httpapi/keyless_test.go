package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/service"
)

// TestKeylessRequestsSayWhatToDo: a write to a record route without the
// record's key (the runbook once said PUT /v1/tables/sites) is refused
// with the route to use, not redirected with 307 and an empty body, which
// curl does not follow: the operator saw nothing and nothing changed.
func TestKeylessRequestsSayWhatToDo(t *testing.T) {
	svc, _ := sampleService(t)
	srv := httptest.NewServer(Handler(svc, nil))
	defer srv.Close()
	for _, c := range []struct {
		method, path string
		status       int
		allow, says  string
	}{
		{"PUT", "/v1/tables/sites", 405, "GET, HEAD, POST", "PUT /v1/tables/sites/KEY"},
		{"PATCH", "/v1/tables/sites", 405, "GET, HEAD, POST", "PATCH /v1/tables/sites/KEY"},
		{"DELETE", "/v1/extensions", 405, "GET, HEAD, POST", "DELETE /v1/extensions/KEY"},
		{"GET", "/v1/history/extensions", 404, "", "GET /v1/history/extensions/KEY"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(`{"name":"nyc"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body apiError
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || !strings.Contains(body.Error.Message, c.says) {
			t.Errorf("%s %s: %d, Allow %q, %q; want %d, Allow %q, a message naming %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), body.Error.Message, c.status, c.allow, c.says)
		}
	}
	if _, err := svc.Get(t.Context(), "sites", "nyc"); err == nil {
		t.Error("a refused keyless PUT created site nyc")
	}
}

// TestKeylessRequestsNeedTheRoutesRole: the keyless answer is given only
// to a caller who may use the route it stands for; others get 401 or 403
// first, and a failure counts as one.
func TestKeylessRequestsNeedTheRoutesRole(t *testing.T) {
	svc, _ := sampleService(t)
	auth := NewTokenAuth(map[string]Token{"read-token-0123456789": {service.RoleRead, "noc"}, "op-token-0123456789": {service.RoleOperator, "ops"}}, nil)
	srv := httptest.NewServer(Handler(svc, auth))
	defer srv.Close()
	for token, want := range map[string]int{"": 401, "read-token-0123456789": 403, "op-token-0123456789": 405} {
		if got := statusOf(t, "PUT", srv.URL+"/v1/tables/sites", token, `{"name":"nyc"}`); got != want {
			t.Errorf("keyless PUT with token %q: %d, want %d", token, got, want)
		}
	}
}
