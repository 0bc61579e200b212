package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestClientMatchesService drives the same operations through the HTTP
// API client and checks the answers and errors match the local service.
func TestClientMatchesService(t *testing.T) {
	svc, _ := sampleService(t)
	srv := httptest.NewServer(Handler(svc, nil))
	defer srv.Close()
	c, err := NewClient(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	page, err := c.List(ctx, "extensions", service.Query{Group: "IT", Sort: "name", Limit: 3})
	if err != nil || page.Total != 16 || len(page.Rows) != 3 || page.Rows[0]["name"] != "Alison Moyer" {
		t.Fatalf("List = %+v %v", page, err)
	}
	if _, err := c.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6110", "name": "Ana Ruiz"}, service.PutOptions{Must: store.MustNotExist}); err != nil {
		t.Fatal(err)
	}
	v, err := c.Get(ctx, "extensions", "tpa1/6110")
	if err != nil || v.Fields["name"] != "Ana Ruiz" || v.Fields["site"] != "tpa" {
		t.Fatalf("Get = %+v %v", v, err)
	}
	_, err = c.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6110", "name": "x"}, service.PutOptions{Merge: true, IfMatch: "tpa1.0000000000000001:1"})
	var ae *service.Error
	if !errors.As(err, &ae) || ae.Code != 412 {
		t.Fatalf("stale If-Match = %v", err)
	}
	if _, err := c.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6110", "name": "Ana M. Ruiz"}, service.PutOptions{Merge: true, IfMatch: v.Version}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "61O1"}, service.PutOptions{Must: store.MustNotExist})
	if !errors.As(err, &ae) || ae.Code != 400 || !strings.Contains(ae.Msg, "extension 61O1: not a dial string (letters are not allowed)") {
		t.Fatalf("bad number = %v", err)
	}
	reply, err := c.Import(ctx, service.ImportRequest{Table: "extensions", Source: "x.csv"}, strings.NewReader("cluster,regexten,name\ntpa1,6111,Bo\ntpa1,6112,Cy\n"))
	if err != nil || reply.Changed != 2 {
		t.Fatalf("Import = %+v %v", reply, err)
	}
	rows, err := c.Export(ctx, "clusters")
	if err != nil || len(rows) != 5 {
		t.Fatalf("Export = %d %v", len(rows), err)
	}
	hist, err := c.History(ctx, "extensions", "tpa1/6110")
	if err != nil || len(hist) != 2 {
		t.Fatalf("History = %+v %v", hist, err)
	}
	if _, err := c.Revert(ctx, hist[1].Change); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "extensions", "tpa1/6110", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "extensions", "tpa1/6110", ""); !errors.As(err, &ae) || ae.Code != 404 {
		t.Fatalf("second delete = %v", err)
	}
	b, err := c.Batch(ctx, service.BatchRequest{Template: "USSales", Cluster: "tpa1", From: "6120", To: "6121", DryRun: true})
	if err != nil || !b.Valid || b.Records[0]["secret"] != pbx.Redacted && b.Records[0]["secret"] == "" {
		t.Fatalf("Batch = %+v %v", b, err)
	}
}

func TestRolesAndRedaction(t *testing.T) {
	svc, _ := sampleService(t)
	srv := httptest.NewServer(Handler(svc, fixedRole(service.RoleRead)))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "t")
	ctx := context.Background()
	v, err := c.Get(ctx, "extensions", "tpa1/6109")
	if err != nil || v.Fields["secret"] != pbx.Redacted || v.Fields["vmsecret"] != pbx.Redacted {
		t.Fatalf("read role sees %v (%v)", v.Fields, err)
	}
	var ae *service.Error
	if _, err := c.Delete(ctx, "extensions", "tpa1/6109", ""); !errors.As(err, &ae) || ae.Code != 403 {
		t.Fatalf("read role deleted: %v", err)
	}
	if _, err := c.Export(ctx, "extensions"); !errors.As(err, &ae) || ae.Code != 403 {
		t.Fatalf("read role exported secrets: %v", err)
	}
}

type fixedRole service.Role

func (f fixedRole) Authenticate(*http.Request) (service.Role, string, error) {
	return service.Role(f), "tester", nil
}

// TestListingPagesFromReusedBuffers lists through one handler as admin
// and then as the read role, a large page and then a small one: the
// buffers the pages are written into are reused, so each answer must be
// whole, its own (no secret of the admin's page in the reader's, nothing
// left of a longer page) and sent with its length rather than chunked.
func TestListingPagesFromReusedBuffers(t *testing.T) {
	svc, _ := sampleService(t)
	tokens := map[string]Token{"admin-token-0123456789": {service.RoleAdmin, "root"}, "read-token-0123456789": {service.RoleRead, "noc"}}
	srv := httptest.NewServer(HandlerWith(svc, HandlerOptions{Auth: NewTokenAuth(tokens, nil)}))
	defer srv.Close()
	list := func(token, query string) []pbx.Fields {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/extensions?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s %v", query, resp.StatusCode, body, err)
		}
		if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
			t.Fatalf("%s: Content-Length %d, Transfer-Encoding %v, body %d bytes", query, resp.ContentLength, resp.TransferEncoding, len(body))
		}
		var page service.Page
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("%s: %v in %s", query, err, body)
		}
		return page.Rows
	}
	for range 3 {
		admin := list("admin-token-0123456789", "limit=50")
		if len(admin) < 40 || admin[0]["secret"] == "" || admin[0]["secret"] == pbx.Redacted {
			t.Fatalf("admin's page: %d rows, first %v", len(admin), admin[0])
		}
		read := list("read-token-0123456789", "limit=50")
		for i, r := range read {
			for _, name := range pbx.Extensions.SecretFields() {
				if v, ok := r[name]; ok && v != pbx.Redacted {
					t.Fatalf("read role's row %d shows %s=%q", i, name, v)
				}
			}
		}
		if small := list("read-token-0123456789", "limit=1&search=6109"); len(small) != 1 || small[0]["regexten"] != "6109" {
			t.Fatalf("small page after a large one: %v", small)
		}
	}
}
