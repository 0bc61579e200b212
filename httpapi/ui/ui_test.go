package ui

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: missing %q", what, w)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(body, n) {
			t.Errorf("%s: must not contain %q", what, n)
		}
	}
}

func TestLoginLogout(t *testing.T) {
	logs := &syncBuffer{}
	svc := sampleWithConflict(t)
	srv, _ := newServer(t, svc, testAuth(slog.New(slog.NewTextHandler(logs, nil))), false)
	b := newBrowser(t, srv)

	resp, _ := b.get(Prefix + "roaming?group=IT")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix+"login?next="+url.QueryEscape("/ui/roaming?group=IT") {
		t.Fatalf("no session: %s → %q", resp.Status, resp.Header.Get("Location"))
	}
	if strings.Contains(logs.String(), "authentication failed") {
		t.Fatal("visiting without a session counted as a failed authentication")
	}
	resp, page := b.get(Prefix + "login?next=" + url.QueryEscape("/ui/roaming?group=IT"))
	c := cookieOf(resp, csrfCookie)
	if resp.StatusCode != 200 || c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != Prefix || c.Secure {
		t.Fatalf("login page: %s, csrf cookie %+v", resp.Status, c)
	}
	token := csrf(t, page)

	// No CSRF token: refused, and no session.
	resp, body := b.post(Prefix+"login", url.Values{"token": {readToken}})
	if resp.StatusCode != http.StatusForbidden || cookieOf(resp, sessionCookie) != nil {
		t.Fatalf("login without CSRF token: %s %v", resp.Status, resp.Cookies())
	}
	mustContain(t, "refusal", body, "came from another site")

	// A wrong token: the same answer as any failure, logged for fail2ban.
	resp, body = b.post(Prefix+"login", url.Values{"csrf": {token}, "token": {"not-a-token-at-all-000"}})
	if resp.StatusCode != http.StatusUnauthorized || cookieOf(resp, sessionCookie) != nil {
		t.Fatalf("bad token: %s %v", resp.Status, resp.Cookies())
	}
	mustContain(t, "bad token", body, "That token is not valid.")
	if !strings.Contains(logs.String(), `msg="authentication failed" client=127.0.0.1`) {
		t.Fatalf("failed login not logged for fail2ban:\n%s", logs)
	}

	resp, _ = b.post(Prefix+"login", url.Values{"csrf": {token}, "token": {readToken}, "next": {"/ui/roaming?group=IT"}})
	s := cookieOf(resp, sessionCookie)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/roaming?group=IT" {
		t.Fatalf("login: %s → %q", resp.Status, resp.Header.Get("Location"))
	}
	if s == nil || !s.HttpOnly || s.SameSite != http.SameSiteStrictMode || s.Path != Prefix || s.Secure || s.Value != readToken {
		t.Fatalf("session cookie %+v", s)
	}
	resp, body = b.get(Prefix)
	if resp.StatusCode != 200 {
		t.Fatalf("status page: %s\n%s", resp.Status, body)
	}
	mustContain(t, "status page", body, "Enterprise status", "noc <em>read</em>", "Log out")

	// Logging out takes the CSRF token too.
	resp, _ = b.post(Prefix+"logout", url.Values{})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF token: %s", resp.Status)
	}
	resp, _ = b.post(Prefix+"logout", url.Values{"csrf": {csrf(t, body)}})
	if resp.StatusCode != http.StatusSeeOther || cookieOf(resp, sessionCookie) == nil || cookieOf(resp, sessionCookie).MaxAge >= 0 {
		t.Fatalf("logout: %s %v", resp.Status, resp.Cookies())
	}
	if resp, _ = b.get(Prefix); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %s", resp.Status)
	}
}

func TestLoginRedirectStaysOnThePages(t *testing.T) {
	for next, want := range map[string]string{
		"/ui/groups?group=IT":    "/ui/groups?group=IT",
		"//evil.example/ui/":     "/ui/",
		"https://evil.example/":  "/ui/",
		"/ui//evil.example":      "/ui/",
		"/ui/\\evil":             "/ui/",
		"/v1/extensions":         "/ui/",
		"/ui/x\r\nSet-Cookie: a": "/ui/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestSecureCookiesOverTLS(t *testing.T) {
	srv, _ := newServer(t, sampleWithConflict(t), testAuth(slog.New(slog.DiscardHandler)), true)
	b := newBrowser(t, srv)
	resp, page := b.get(Prefix + "login")
	if c := cookieOf(resp, csrfCookie); c == nil || !c.Secure {
		t.Fatalf("csrf cookie over TLS: %+v", c)
	}
	resp, _ = b.post(Prefix+"login", url.Values{"csrf": {csrf(t, page)}, "token": {adminToken}})
	if c := cookieOf(resp, sessionCookie); c == nil || !c.Secure || !c.HttpOnly {
		t.Fatalf("session cookie over TLS: %+v", c)
	}
	if resp, _ := b.get(Prefix + "conflicts"); resp.StatusCode != 200 {
		t.Fatalf("conflicts over TLS: %s", resp.Status)
	}
}

func TestPagesShowTheEnterprise(t *testing.T) {
	srv, _ := newServer(t, sampleWithConflict(t), testAuth(slog.New(slog.DiscardHandler)), false)
	b := newBrowser(t, srv)
	b.login(readToken)

	_, body := b.get(Prefix)
	mustContain(t, "status", body, `id="board"`, ">tpa1 <small>(here)</small>", ">tpa2<", ">sfo<", ">lon<", ">ams<",
		"VOICE FAIL OVER · WEB OK", "VOICE DOWN · WEB OK", `class="cell s-fail" title="OPTIONS timed out"`,
		"in SRV answers", "dropped from SRV", "Membership", "no data", "<span class=\"big\">1</span> conflicts open",
		`<span class="big">1</span> critical · <span class="big">1</span> warning`)
	// The offline service has no membership: every membership cell is grey.
	if n := strings.Count(body, `needs a running agent`); n < 5 {
		t.Errorf("membership/replication cells without an agent: %d say why", n)
	}

	_, body = b.get(Prefix + "services")
	mustContain(t, "services", body, "<td>tpa1</td><td>192.168.0.218</td><td>192.168.0.215</td>",
		"<td>192.168.19.218</td><td>192.168.19.212</td>", "VOICE FAIL OVER", "WEB OK",
		`<td>lon</td><td>192.168.200.218</td><td title="configured server; no live report">192.168.200.212</td>`)

	_, body = b.get(Prefix + "roaming")
	mustContain(t, "roaming", body, `<tr class="row s-fail">`, "duplicate voicemail, name mismatch",
		`<li class="cell s-fail block">`, "keep the box on the home cluster only", "(acknowledged)")
	_, body = b.get(Prefix + "roaming?cluster=ams")
	mustContain(t, "roaming for ams", body, "<td>ams</td>", `<option value="ams" selected>`)
	mustNotContain(t, "roaming for ams", body, "<td>tpa2</td>")

	_, body = b.get(Prefix + "groups?group=IT")
	mustContain(t, "IT group", body, "group=IT", "Tampa IT HelpDesk", "Alison Moyer", "1–16 of 16")
	mustNotContain(t, "IT group", body, "Harold Fisher")
	_, body = b.get(Prefix + "groups?search=5020")
	mustContain(t, "agent status", body, "HR1 busy on a call", `class="cell s-warn"`, "<td>3 / 0</td><td>13 / 23 / 5</td>")

	_, body = b.get(Prefix + "conflicts")
	mustContain(t, "conflicts", body, `href="/ui/conflicts/extensions/sfo/5020"`, "name, secret")
}

func TestGroupSortAndPaging(t *testing.T) {
	svc := sampleWithConflict(t)
	u, err := New(Config{Title: "t", PageSize: 5}, Deps{Data: svc})
	if err != nil {
		t.Fatal(err)
	}
	get := func(q string) string {
		rec := newRecorder(u, "GET", Prefix+"groups?"+q)
		if rec.Code != 200 {
			t.Fatalf("groups?%s: %d\n%s", q, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	byExt := get("group=IT")
	byName := get("group=IT&sort=name")
	mustContain(t, "by extension", byExt, "1–5 of 16", "page 1 of 4", `rel="next"`)
	// Sorted by name, the first IT user is Alison Moyer; by number she is not on page 1.
	mustContain(t, "by name", byName, "Alison Moyer", `aria-sort="ascending"`, `href="/ui/groups?desc=1&amp;group=IT&amp;sort=name"`)
	mustNotContain(t, "by extension", byExt, "Alison Moyer")
	desc := get("group=IT&sort=name&desc=1")
	if strings.Contains(desc, "Alison Moyer") {
		t.Error("descending by name still starts with Alison Moyer")
	}
	last := get("group=IT&page=4")
	mustContain(t, "last page", last, "16–16 of 16", `rel="prev"`)
	rec := newRecorder(u, "GET", Prefix+"groups?sort=secret")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "cannot sort by &#34;secret&#34;: use group, cluster, extension, name") {
		t.Fatalf("bad sort: %d %s", rec.Code, rec.Body)
	}
}

func newRecorder(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestConflictRolesAndRedaction(t *testing.T) {
	svc := sampleWithConflict(t)
	srv, _ := newServer(t, svc, testAuth(slog.New(slog.DiscardHandler)), false)
	page := Prefix + "conflicts/extensions/sfo/5020"
	secrets := []string{"TpaSecret0123456", "SfoSecret0123456", "462723"}

	for _, tok := range []string{readToken, operatorToken} {
		b := newBrowser(t, srv)
		b.login(tok)
		resp, body := b.get(page)
		if resp.StatusCode != 200 {
			t.Fatalf("conflict page: %s", resp.Status)
		}
		mustContain(t, "conflict for "+tok, body, pbx.Redacted, `<tr class="differ"><th scope="row">name</th>`, "alice", "bob",
			"Resolving a conflict needs the admin role")
		mustNotContain(t, "conflict for "+tok, body, append(secrets, "Keep this side")...)
		resp, body = b.post(page, url.Values{"csrf": {csrf(t, body)}, "take": {"sfo"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("resolve as %s: %s", tok, resp.Status)
		}
		mustContain(t, "refusal", body, "This needs the admin role; you are logged in as")
	}
	if cs, _ := svc.Conflicts(bg); len(cs) != 1 {
		t.Fatal("a non-admin resolved the conflict")
	}

	admin := newBrowser(t, srv)
	admin.login(adminToken)
	_, body := admin.get(page)
	// Masked for admins too: they reveal one value at a time.
	mustContain(t, "admin's conflict page", body, pbx.Redacted, `class="reveal"`, "Keep this side (tpa1)", "Keep this side (sfo)")
	mustNotContain(t, "admin's conflict page", body, secrets...)
	// Without the token, or with another session's token: refused.
	reader := newBrowser(t, srv)
	reader.login(readToken)
	_, other := reader.get(page)
	for _, form := range []url.Values{{"take": {"sfo"}}, {"take": {"sfo"}, "csrf": {csrf(t, other)}}, {"take": {"sfo"}, "csrf": {"x" + csrf(t, body)}}} {
		if resp, _ := admin.post(page, form); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("resolve with csrf %q: %s", form.Get("csrf"), resp.Status)
		}
	}
	if cs, _ := svc.Conflicts(bg); len(cs) != 1 {
		t.Fatal("a forged form resolved the conflict")
	}
	resp, got := admin.post(page, url.Values{"csrf": {csrf(t, body)}, "take": {"sfo"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("resolve: %s\n%s", resp.Status, got)
	}
	_, body = admin.get(resp.Header.Get("Location"))
	mustContain(t, "after resolving", body, "Resolved extensions/sfo/5020: kept the version from sfo.", "No conflicts")
	v, err := svc.Get(bg, "extensions", "sfo/5020")
	if err != nil || v.Conflict || v.Fields["name"] != hostileName2 {
		t.Fatalf("after resolving: %+v %v", v, err)
	}
	if h, _ := svc.History(bg, "extensions", "sfo/5020"); h[len(h)-1].Author != "root" {
		t.Fatalf("the resolution is attributed to %q", h[len(h)-1].Author)
	}
	// Resolving again: the page says why.
	resp, body = admin.post(page, url.Values{"csrf": {csrf(t, body)}, "take": {"sfo"}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "is not in conflict") {
		t.Fatalf("resolve twice: %s\n%s", resp.Status, body)
	}
}

func TestHostileValuesAreEscaped(t *testing.T) {
	svc := sampleWithConflict(t)
	srv, _ := newServer(t, svc, testAuth(slog.New(slog.DiscardHandler)), false)
	b := newBrowser(t, srv)
	b.login(adminToken)
	for _, path := range []string{
		"conflicts/extensions/sfo/5020", "roaming", "groups?search=5020",
		"groups?search=" + url.QueryEscape(hostileName), "groups?group=" + url.QueryEscape(hostileName2),
		"login?next=" + url.QueryEscape("/ui/\"><script>alert(1)</script>") + "&note=" + url.QueryEscape(hostileName),
		"nope/" + url.PathEscape(hostileName),
	} {
		_, body := b.get(Prefix + path)
		mustNotContain(t, path, body, "<script>alert", "<img src=x", hostileName2)
		if !strings.Contains(body, "&lt;script&gt;") && !strings.Contains(body, "&lt;img") && !strings.Contains(body, "%3cscript") && !strings.Contains(body, "%3Cscript") {
			t.Errorf("%s: the hostile value is not shown at all", path)
		}
	}
}

func TestWithoutTokensEveryoneIsAdmin(t *testing.T) {
	srv, _ := newServer(t, sampleWithConflict(t), nil, false)
	b := newBrowser(t, srv)
	resp, body := b.get(Prefix + "conflicts/extensions/sfo/5020")
	if resp.StatusCode != 200 {
		t.Fatalf("no tokens: %s", resp.Status)
	}
	mustContain(t, "no tokens", body, "local <em>admin</em>", "Keep this side")
	mustNotContain(t, "no tokens", body, "Log out")
	// Forms still need the CSRF token: a page on another site cannot resolve.
	if resp, _ := b.post(Prefix+"conflicts/extensions/sfo/5020", url.Values{"take": {"sfo"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("resolve without a token: %s", resp.Status)
	}
	_, body = b.get(Prefix + "login")
	mustContain(t, "login without tokens", body, "no tokens file")
}

func TestRevokedTokenEndsTheSession(t *testing.T) {
	auth := testAuth(slog.New(slog.DiscardHandler))
	srv, _ := newServer(t, sampleWithConflict(t), auth, false)
	b := newBrowser(t, srv)
	b.login(readToken)
	auth.SetTokens(map[string]httpapi.Token{adminToken: {Role: service.RoleAdmin, Name: "root"}})
	resp, _ := b.get(Prefix + "groups")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "note=ended") {
		t.Fatalf("revoked: %s → %s", resp.Status, loc)
	}
	if c := cookieOf(resp, sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Fatalf("revoked session cookie not cleared: %v", resp.Cookies())
	}
	_, body := b.get(loc)
	mustContain(t, "login after revocation", body, "Your session ended")
	// The note comes from a fixed list: a link cannot make the page say anything else.
	_, body = b.get(Prefix + "login?note=" + url.QueryEscape("Call 555-0100 to renew your token"))
	mustNotContain(t, "login with a made-up note", body, "555-0100")
}

func TestFailedLoginsAreRateLimited(t *testing.T) {
	srv, _ := newServer(t, sampleWithConflict(t), testAuth(slog.New(slog.DiscardHandler)), false)
	b := newBrowser(t, srv)
	_, page := b.get(Prefix + "login")
	tok := csrf(t, page)
	var body string
	for i := 0; i < 11; i++ {
		_, body = b.post(Prefix+"login", url.Values{"csrf": {tok}, "token": {"wrong-token-0123456789"}})
	}
	mustContain(t, "11th failure", body, "too many failed authentications")
	// The right token still logs in: the limit holds back failures only.
	resp, _ := b.post(Prefix+"login", url.Values{"csrf": {tok}, "token": {readToken}})
	if resp.StatusCode != http.StatusSeeOther || cookieOf(resp, sessionCookie) == nil {
		t.Fatalf("login with the right token while failures are limited: %s", resp.Status)
	}
}

func TestCrossSiteFormsAreRefused(t *testing.T) {
	svc := sampleWithConflict(t)
	srv, _ := newServer(t, svc, testAuth(slog.New(slog.DiscardHandler)), false)
	b := newBrowser(t, srv)
	b.login(adminToken)
	_, body := b.get(Prefix + "conflicts/extensions/sfo/5020")
	for name, value := range map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"} {
		req, _ := http.NewRequest("POST", srv.URL+Prefix+"conflicts/extensions/sfo/5020",
			strings.NewReader(url.Values{"csrf": {csrf(t, body)}, "take": {"sfo"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(name, value)
		if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s: %s", name, value, resp.Status)
		}
	}
	if cs, _ := svc.Conflicts(bg); len(cs) != 1 {
		t.Fatal("a cross-site form resolved the conflict")
	}
}

func TestHeadersStaticAndErrors(t *testing.T) {
	srv, _ := newServer(t, sampleWithConflict(t), testAuth(slog.New(slog.DiscardHandler)), false)
	b := newBrowser(t, srv)
	b.login(readToken)
	resp, _ := b.get(Prefix)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || resp.Header.Get("X-Frame-Options") != "DENY" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: %v", resp.Header)
	}
	for path, ctype := range map[string]string{"static/style.css": "text/css", "static/sort.js": "text/javascript"} {
		resp, body := b.get(Prefix + path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("%s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
	}
	for path, want := range map[string]int{"nope": 404, "conflicts/extensions/tpa1/9999": 404, "conflicts/nokey": 400, "groups?page=0": 400} {
		resp, body := b.get(Prefix + path)
		if resp.StatusCode != want || !strings.Contains(body, `id="error"`) {
			t.Errorf("%s: %s, want %d", path, resp.Status, want)
		}
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	svc := sampleWithConflict(t)
	for _, c := range []struct {
		cfg  Config
		deps Deps
		want string
	}{
		{Config{PageSize: 0}, Deps{Data: svc}, "page size"},
		{Config{PageSize: 10, Refresh: -1}, Deps{Data: svc}, "refresh"},
		{DefaultConfig(), Deps{}, "Deps.Data is required"},
	} {
		if _, err := New(c.cfg, c.deps); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestAdminRevealsOneSecretAtATime: the conflict page masks every secret
// for every role; an admin's reveal shows one value of one version, and
// only once the audit log holds it. Other roles, forged forms and an
// agent without an audit log reveal nothing.
func TestAdminRevealsOneSecretAtATime(t *testing.T) {
	svc := sampleWithConflict(t)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	audit, err := service.OpenAuditLog(auditPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	srv, _ := newServerWith(t, svc, testAuth(slog.New(slog.DiscardHandler)), false, audit)
	page := Prefix + "conflicts/extensions/sfo/5020"
	cv, err := svc.Conflict(bg, "extensions/sfo/5020")
	if err != nil {
		t.Fatal(err)
	}
	var tpaVersion string
	for _, c := range cv.Conflicts {
		for _, sd := range c.Sides {
			if sd.Fields["secret"] == "TpaSecret0123456" {
				tpaVersion = sd.Version
			}
		}
	}
	form := func(body string) url.Values {
		return url.Values{"csrf": {csrf(t, body)}, "ref": {"extensions/sfo/5020"}, "field": {"secret"}, "version": {tpaVersion}}
	}

	op := newBrowser(t, srv)
	op.login(operatorToken)
	_, body := op.get(page)
	mustNotContain(t, "operator's conflict page", body, `class="reveal"`)
	if resp, got := op.post(Prefix+"reveal", form(body)); resp.StatusCode != http.StatusForbidden || strings.Contains(got, "TpaSecret0123456") {
		t.Fatalf("operator reveal: %s", resp.Status)
	}

	admin := newBrowser(t, srv)
	admin.login(adminToken)
	_, body = admin.get(page)
	forged := form(body)
	forged.Set("csrf", "x")
	if resp, got := admin.post(Prefix+"reveal", forged); resp.StatusCode != http.StatusForbidden || strings.Contains(got, "TpaSecret0123456") {
		t.Fatalf("reveal without the form's CSRF token: %s", resp.Status)
	}
	if data, _ := os.ReadFile(auditPath); len(data) != 0 {
		t.Fatalf("refused reveals are in the audit log: %s", data)
	}
	resp, got := admin.post(Prefix+"reveal", form(body))
	if resp.StatusCode != 200 {
		t.Fatalf("reveal: %s\n%s", resp.Status, got)
	}
	mustContain(t, "revealed page", got, "TpaSecret0123456", "Revealed secret of version "+tpaVersion, "the reveal is in the audit log")
	mustNotContain(t, "revealed page", got, "SfoSecret0123456", "462723")
	data, _ := os.ReadFile(auditPath)
	var e service.AuditEvent
	if err := json.Unmarshal(data, &e); err != nil || e.Who != "root" || e.Role != "admin" || e.Action != "reveal secret" ||
		e.Target != "extensions/sfo/5020" || e.Detail != "secret of version "+tpaVersion || strings.Contains(string(data), "TpaSecret") {
		t.Fatalf("audit log %q (%v)", data, err)
	}
	bad := form(body)
	bad.Set("field", "name") // not a secret
	if resp, _ := admin.post(Prefix+"reveal", bad); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reveal of a field that is no secret: %s", resp.Status)
	}

	noAudit, _ := newServerWith(t, svc, testAuth(slog.New(slog.DiscardHandler)), false, nil)
	b := newBrowser(t, noAudit)
	b.login(adminToken)
	_, body = b.get(page)
	if resp, got := b.post(Prefix+"reveal", form(body)); resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(got, "TpaSecret0123456") {
		t.Fatalf("reveal without an audit log: %s", resp.Status)
	}
}
