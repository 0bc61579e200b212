package ui

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	pbxtopo "github.com/pbxtopo/pbxtopo"
	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

var bg = context.Background()

// Hostile values that records may hold; the pages must show them as text.
const (
	hostileName  = `<script>alert("pwn")</script>`
	hostileName2 = `"><img src=x onerror=alert(1)>`
)

// Tokens of the tests' TokenAuth.
const (
	readToken     = "read-token-0123456789"
	operatorToken = "operator-token-0123456789"
	adminToken    = "admin-token-0123456789abc"
)

func openStore(t testing.TB, replica string) *store.Store {
	t.Helper()
	st := testutil.Store(t, replica)
	return st
}

// importSample loads the guide's sample enterprise through the Service.
func importSample(t testing.TB, svc *service.Service) {
	t.Helper()
	for _, table := range pbx.TableNames() {
		fh, err := pbxtopo.SampleEnterprise.Open("testdata/enterprise/" + table + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Import(bg, service.ImportRequest{Table: table, Source: table + ".csv"}, fh); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
}

// pull moves every change dst lacks from src, as replication would.
func pull(t testing.TB, dst, src *store.Store) {
	t.Helper()
	all := func(store.Stream) bool { return true }
	for i := 0; i < 1000; i++ {
		b, err := src.ChangesSince(dst.Summary(), all, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) == 0 {
			return
		}
		if _, err := dst.Apply(bg, b.Changes); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("pull did not finish")
}

// sampleWithConflict returns a service at tpa1 over the sample enterprise
// where extension sfo/5020 was changed concurrently at tpa1 and sfo (with
// hostile names and different secrets): a real conflict.
func sampleWithConflict(t testing.TB) *service.Service {
	t.Helper()
	a, b := openStore(t, "tpa1"), openStore(t, "sfo")
	svcA, svcB := service.NewService(a), service.NewService(b)
	importSample(t, svcA)
	pull(t, b, a)
	for _, w := range []struct {
		svc          *service.Service
		who          string
		name, secret string
	}{{svcA, "alice", hostileName, "TpaSecret0123456"}, {svcB, "bob", hostileName2, "SfoSecret0123456"}} {
		ctx := service.WithRole(bg, service.RoleAdmin, w.who)
		if _, err := w.svc.Put(ctx, "extensions", pbx.Fields{"cluster": "sfo", "regexten": "5020", "name": w.name, "secret": w.secret},
			service.PutOptions{Merge: true}); err != nil {
			t.Fatal(err)
		}
	}
	pull(t, a, b)
	cs, err := svcA.Conflicts(bg)
	if err != nil || len(cs) != 1 {
		t.Fatalf("want one conflict, have %d (%v)", len(cs), err)
	}
	return svcA
}

func testAuth(log *slog.Logger) *httpapi.TokenAuth {
	return httpapi.NewTokenAuth(map[string]httpapi.Token{
		readToken:     {Role: service.RoleRead, Name: "noc"},
		operatorToken: {Role: service.RoleOperator, Name: "oper"},
		adminToken:    {Role: service.RoleAdmin, Name: "root"},
	}, log)
}

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeRoaming is a stand-in for the roaming package, which is built on
// another branch: the guide's §3.0.6 example, with a hostile name.
type fakeRoaming struct{}

func (fakeRoaming) RoamingReport(_ context.Context, f RoamingFilter) (*RoamingReport, error) {
	rep := &RoamingReport{
		Rows: []RoamingRow{
			{Extension: "5020", Cluster: "tpa2", Group: "HR", Name: "Harold Fisher", Roaming: true, Mailbox: "5020", Voicemail: "home", HomeCluster: "tpa2"},
			{Extension: "5020", Cluster: "sfo", Group: "HR", Name: "Harold Fisher", Roaming: true, Voicemail: "elsewhere", HomeCluster: "tpa2"},
			{Extension: "5200", Cluster: "tpa2", Group: "TechSupport", Name: "Eddie Chissem", Roaming: true, Mailbox: "5200", Voicemail: "duplicate"},
			{Extension: "5200", Cluster: "tpa1", Group: "Development", Name: hostileName, Roaming: true, Mailbox: "5200", Voicemail: "duplicate"},
			{Extension: "6179", Cluster: "sfo", Group: "Accounts", Name: "Anne Stamp", Roaming: true, Voicemail: "elsewhere", HomeCluster: "ams"},
			{Extension: "6179", Cluster: "ams", Group: "Accounts", Name: "Anne Stamp", Roaming: true, Mailbox: "6179", Voicemail: "home", HomeCluster: "ams"},
		},
		Findings: []RoamingFinding{
			{ID: "ROAM-DUP-VM:5200", Rule: "ROAM-DUP-VM", Title: "duplicate voicemail", Severity: "warning",
				Summary: "voicemail box 5200 is on tpa1 and tpa2", Fix: "keep the box on the home cluster only",
				Records: []string{"extensions/tpa1/5200", "extensions/tpa2/5200"}},
			{ID: "ROAM-NAME:5200", Rule: "ROAM-NAME", Title: "name mismatch", Severity: "critical",
				Summary: "5200 is " + hostileName + " on tpa1 and Eddie Chissem on tpa2", Fix: "use one name",
				Records: []string{"extensions/tpa1/5200"}},
			{ID: "ROAM-STD:5020", Rule: "ROAM-STD", Title: "standard number", Severity: "info", Acked: true,
				Summary: "5020 is a standard number", Records: []string{"extensions/tpa2/5020"}},
		},
	}
	var rows []RoamingRow
	for _, r := range rep.Rows {
		if (f.Cluster == "" || r.Cluster == f.Cluster) && (f.Group == "" || r.Group == f.Group) {
			rows = append(rows, r)
		}
	}
	rep.Rows = rows
	return rep, nil
}

// fakeServices and fakeDNS stand in for the health view of srv, built on
// another branch.
type fakeServices []ServiceHealth

func (f fakeServices) ServiceAvailability(context.Context) ([]ServiceHealth, error) { return f, nil }

type fakeDNS []DNSCluster

func (f fakeDNS) DNSStatus(context.Context) ([]DNSCluster, error) { return f, nil }

// fakeAgents stands in for the AMI status collector.
type fakeAgents map[string]pbx.Fields

func (f fakeAgents) ExtensionStatus(_ context.Context, keys []string) (map[string]pbx.Fields, error) {
	out := map[string]pbx.Fields{}
	for _, k := range keys {
		if st, ok := f[k]; ok {
			out[k] = st
		}
	}
	return out, nil
}

// client is a cookie-keeping HTTP client that does not follow redirects,
// so tests see every answer.
type client struct {
	t   testing.TB
	srv *httptest.Server
	c   *http.Client
}

func newBrowser(t testing.TB, srv *httptest.Server) *client {
	jar, _ := cookiejar.New(nil)
	c := *srv.Client() // a copy: each browser keeps its own cookies
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, srv: srv, c: &c}
}

func (b *client) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *client) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.srv.URL+path, nil)
	return b.do(req)
}

func (b *client) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the first form of a page.
func csrf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

// login logs the browser in with token and checks it lands on next.
func (b *client) login(token string) {
	b.t.Helper()
	_, page := b.get(Prefix + "login")
	resp, body := b.post(Prefix+"login", url.Values{"csrf": {csrf(b.t, page)}, "token": {token}, "next": {Prefix}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix {
		b.t.Fatalf("login: %s %s\n%s", resp.Status, resp.Header.Get("Location"), body)
	}
}

// newServer serves the pages over svc with auth and the stand-in sources.
func newServer(t testing.TB, svc Data, auth httpapi.Authenticator, tls bool) (*httptest.Server, *UI) {
	t.Helper()
	audit, err := service.OpenAuditLog(filepath.Join(t.TempDir(), "audit.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audit.Close() })
	return newServerWith(t, svc, auth, tls, audit)
}

// newServerWith is newServer with the given audit log.
func newServerWith(t testing.TB, svc Data, auth httpapi.Authenticator, tls bool, audit Auditor) (*httptest.Server, *UI) {
	t.Helper()
	audits, _ := svc.(AuditSource) // the real audit of the sample enterprise
	u, err := New(DefaultConfig(), Deps{Data: svc, Auth: auth, Cluster: "tpa1", Node: "tpa1-1", Audit: audit,
		Roaming: fakeRoaming{}, Audits: audits,
		Services: fakeServices{
			{Cluster: "tpa1", Voice: Degraded, VoiceServer: "192.168.0.215", Web: Up},
			{Cluster: "tpa2", Voice: Up, Web: Up}, {Cluster: "sfo", Voice: Down, Web: Up, Detail: "OPTIONS timed out"},
		},
		DNS: fakeDNS{{Cluster: "tpa1", State: Up}, {Cluster: "sfo", State: Down, Detail: "health down"}},
		Agents: fakeAgents{
			"tpa2/5020": {"extstatus": "1", "queue": "HR1", "agentstatus": "busy on a call", "vmunread": "3", "callsdin": "13", "callsqin": "23", "callsout": "5"},
			"tpa2/5102": {"extstatus": "0", "queue": "IT2", "agentstatus": "logged in available", "vmunread": "1", "vmold": "4"},
			"sfo/5540":  {"extstatus": "4", "agentstatus": "logged out"},
			"tpa2/5103": {"extstatus": "8", "queue": "IT2", "agentstatus": "ringing"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(u)
	} else {
		srv = httptest.NewServer(u)
	}
	t.Cleanup(srv.Close)
	return srv, u
}
