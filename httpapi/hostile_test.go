package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// apiCall sends one request to an API server and returns the status and body.
func apiCall(t *testing.T, srv *httptest.Server, method, path string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// TestHostileBodiesAreRefused: every body that is not one JSON object of
// the right shape gets 400 with the reason, and changes nothing.
func TestHostileBodiesAreRefused(t *testing.T) {
	svc, st := sampleService(t)
	srv := httptest.NewServer(Handler(svc, nil))
	defer srv.Close()
	json := map[string]string{"Content-Type": "application/json"}
	before := st.Summary()
	for _, tc := range []struct{ method, path, body, want string }{
		{"PUT", "/v1/extensions/tpa1/6109", "null", "got null"},
		{"PATCH", "/v1/extensions/tpa1/6109", "null", "got null"},
		{"POST", "/v1/extensions", "null", "got null"},
		{"PATCH", "/v1/tables/clusters/tpa1", "null", "got null"},
		{"PATCH", "/v1/extensions/tpa1/6109", `[{"name":"x"}]`, "got an array"},
		{"PATCH", "/v1/extensions/tpa1/6109", `"name"`, "got a string"},
		{"PATCH", "/v1/extensions/tpa1/6109", `42`, "got a number"},
		{"PATCH", "/v1/extensions/tpa1/6109", `true`, "got a boolean"},
		{"PATCH", "/v1/extensions/tpa1/6109", `{"name": 5}`, "cannot unmarshal number"},
		{"PATCH", "/v1/extensions/tpa1/6109", `{"name": ["a"]}`, "cannot unmarshal array"},
		{"PATCH", "/v1/extensions/tpa1/6109", `{"name":"Eve"} {"name":"Mallory"}`, "data after the JSON object"},
		{"PATCH", "/v1/extensions/tpa1/6109", `{"name":"Eve"} trailing`, "data after the JSON object"},
		{"PATCH", "/v1/extensions/tpa1/6109", ``, "empty"},
		{"POST", "/v1/batch", "null", "got null"},
		{"POST", "/v1/batch", `{"template":"tpa1/6109","cluster":"tpa1","from":7000,"to":"7001"}`, "cannot unmarshal number"},
		{"POST", "/v1/extensions/move", `{"from":"tpa1/6109","to":"tpa2"} x`, "data after the JSON object"},
		{"POST", "/v1/audit/acks", `[]`, "got an array"},
		{"POST", "/v1/import?table=extensions&source=x.json", `[null]`, "null"},
		{"POST", "/v1/import?table=extensions&source=x.json", `[{"cluster":"tpa1","regexten":"7777"}] trailing`, "after the array"},
	} {
		code, body := apiCall(t, srv, tc.method, tc.path, json, tc.body)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %q: %d %s, want 400 saying %q", tc.method, tc.path, tc.body, code, strings.TrimSpace(body), tc.want)
		}
	}
	if after := st.Summary(); !after.Equal(before) {
		t.Fatalf("refused bodies changed the store: %v → %v", before, after)
	}
}

// TestBrowserCannotForgeWrites: with no tokens file (allowed on loopback),
// a page on another site makes the browser send requests to the API; a
// write must say it is JSON or CSV (which a foreign page cannot send
// without a preflight the API never grants) and come from the API's own
// origin.
func TestBrowserCannotForgeWrites(t *testing.T) {
	svc, st := sampleService(t)
	srv := httptest.NewServer(Handler(svc, nil))
	defer srv.Close()
	cluster := "name,site,voice_vip\ntpa2,tpa,6.6.6.6\n"
	ext := `{"cluster":"tpa1","regexten":"7999","name":"Forged"}`
	before := st.Summary()
	for _, tc := range []struct {
		name, path string
		header     map[string]string
		body       string
		code       int
	}{
		{"text/plain import", "/v1/import?table=clusters", map[string]string{"Content-Type": "text/plain"}, cluster, 415},
		{"form post", "/v1/extensions", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, ext, 415},
		{"no content type", "/v1/extensions", nil, ext, 415},
		{"foreign origin", "/v1/extensions", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, ext, 403},
		{"foreign origin, CSV", "/v1/import?table=clusters", map[string]string{"Content-Type": "text/csv", "Origin": "https://evil.example"}, cluster, 403},
		{"cross-site fetch", "/v1/extensions", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, ext, 403},
		{"same-site fetch", "/v1/extensions", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, ext, 403},
	} {
		if code, body := apiCall(t, srv, "POST", tc.path, tc.header, tc.body); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, strings.TrimSpace(body), tc.code)
		}
	}
	if after := st.Summary(); !after.Equal(before) {
		t.Fatalf("forged requests changed the store: %v → %v", before, after)
	}
	// The API's own origin and tools (no Origin) still write.
	own := map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}
	if code, body := apiCall(t, srv, "POST", "/v1/extensions", own, ext); code != 201 {
		t.Fatalf("same-origin write: %d %s", code, body)
	}
	if code, body := apiCall(t, srv, "POST", "/v1/import?table=clusters", map[string]string{"Content-Type": "text/csv"},
		"name,site,voice_vip\ntpa2,tpa,10.1.2.3\n"); code != 200 {
		t.Fatalf("tool import: %d %s", code, body)
	}
}
