package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

// routeRoles is every route of the API with the role it needs. A route
// added without a line here fails TestRouteTable: decide its role first.
var routeRoles = map[string]service.Role{
	"GET /v1/health": service.RoleNone,

	"GET /v1/extensions":                 service.RoleRead,
	"GET /v1/extensions/{key...}":        service.RoleRead,
	"GET /v1/tables/{table}":             service.RoleRead,
	"GET /v1/tables/{table}/{key...}":    service.RoleRead,
	"GET /v1/history/{table}/{key...}":   service.RoleRead,
	"GET /v1/members":                    service.RoleRead,
	"GET /v1/repl/status":                service.RoleRead,
	"GET /v1/repl/verify":                service.RoleRead,
	"GET /v1/conflicts":                  service.RoleRead,
	"GET /v1/conflicts/{ref...}":         service.RoleRead,
	"GET /v1/raft":                       service.RoleRead,
	"GET /v1/roaming":                    service.RoleRead,
	"GET /v1/audit":                      service.RoleRead,
	"GET /v1/dundi/config":               service.RoleRead,
	"GET /v1/zone":                       service.RoleRead,
	"GET /v1/status":                     service.RoleRead,
	"GET /v1/status/extensions":          service.RoleRead,
	"GET /v1/hours/{group}/now":          service.RoleRead,
	"GET /v1/hours/{group}/dialplan":     service.RoleRead,
	"POST /v1/extensions":                service.RoleOperator,
	"PUT /v1/extensions/{key...}":        service.RoleOperator,
	"PATCH /v1/extensions/{key...}":      service.RoleOperator,
	"DELETE /v1/extensions/{key...}":     service.RoleOperator,
	"POST /v1/extensions/move":           service.RoleOperator,
	"POST /v1/batch":                     service.RoleOperator,
	"POST /v1/tables/{table}":            service.RoleOperator, // and WriteRole(table)
	"PUT /v1/tables/{table}/{key...}":    service.RoleOperator, // and WriteRole(table)
	"PATCH /v1/tables/{table}/{key...}":  service.RoleOperator, // and WriteRole(table)
	"DELETE /v1/tables/{table}/{key...}": service.RoleOperator, // and WriteRole(table)
	"POST /v1/import":                    service.RoleOperator, // and WriteRole(table)
	"GET /v1/export":                     service.RoleAdmin,    // with secrets
	"GET /v1/backup":                     service.RoleAdmin,    // with secrets
	"POST /v1/store/compact":             service.RoleAdmin,
	"POST /v1/revert/{change}":           service.RoleAdmin,
	"PUT /v1/repl/topology":              service.RoleAdmin,
	"POST /v1/repl/decommission":         service.RoleAdmin,
	"POST /v1/conflicts/{ref...}":        service.RoleAdmin,
	"GET /v1/gossip/keys":                service.RoleAdmin,
	"POST /v1/gossip/keys/{op}":          service.RoleAdmin,
	"DELETE /v1/raft/{node}":             service.RoleAdmin,
	"POST /v1/audit/acks":                service.RoleAdmin,
	"DELETE /v1/audit/acks/{finding}":    service.RoleAdmin,
}

// TestRouteTable lists every route with its role: a new route fails until
// it is added to routeRoles, a changed role fails until the table says so,
// and only the health check may be open.
func TestRouteTable(t *testing.T) {
	svc, _ := sampleService(t)
	seen := map[string]bool{}
	for _, rt := range routes(svc) {
		seen[rt.Pattern] = true
		want, listed := routeRoles[rt.Pattern]
		switch {
		case !listed:
			t.Errorf("route %q (role %s) is not in routeRoles: add it with the role it needs", rt.Pattern, rt.Role)
		case rt.Role != want:
			t.Errorf("route %q needs %s, the table says %s", rt.Pattern, rt.Role, want)
		}
		if method, _, _ := strings.Cut(rt.Pattern, " "); method != "GET" && rt.Role < service.RoleOperator {
			t.Errorf("route %q changes data with the %s role", rt.Pattern, rt.Role)
		}
	}
	for p := range routeRoles {
		if !seen[p] {
			t.Errorf("routeRoles lists %q, which is no route any more", p)
		}
	}
}

// TestOneRuleForEveryTableWrite: the operator role changes extensions and
// hot desks, whatever the path (the API's table routes, import, batch,
// move, revert, acknowledgements, topology); every other
// table needs admin, and a refused write changes nothing.
func TestOneRuleForEveryTableWrite(t *testing.T) {
	svc, st := sampleService(t)
	tokens := map[string]Token{"oper-token-0123456789": {service.RoleOperator, "op"}, "admin-token-0123456789": {service.RoleAdmin, "root"}}
	srv := httptest.NewServer(Handler(svc, NewTokenAuth(tokens, slog.New(slog.DiscardHandler))))
	defer srv.Close()
	send := func(method, path, ctype, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer oper-token-0123456789")
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	before := st.Summary()
	for _, tc := range []struct{ name, path, ctype, body string }{
		{"import a cluster", "/v1/import?table=clusters", "text/csv",
			"name,site,voice_vip,failover\ntpa2,tpa,6.6.6.6,tpa1\n"},
		{"import an acknowledgement", "/v1/import?table=acks&source=acks.json", "application/json",
			`[{"finding":"SEC-WEAK-PIN:lon:5021","by":"security-team","why":"accepted"}]`},
		{"import a trunk", "/v1/import?table=trunks", "text/csv", "cluster,name,host\ntpa1,EVIL,6.6.6.6\n"},
		{"dry-run import of sites", "/v1/import?table=sites&dry_run=true", "text/csv", "name\nevil\n"},
	} {
		if code, body := send("POST", tc.path, tc.ctype, tc.body); code != 403 || !strings.Contains(body, "needs the admin role") {
			t.Errorf("operator: %s: %d %s, want 403", tc.name, code, body)
		}
	}
	if after := st.Summary(); !after.Equal(before) {
		t.Fatalf("refused writes changed the store: %v → %v", before, after)
	}
	if code, body := send("POST", "/v1/import?table=hotdesks", "text/csv", "cluster,extension,name\ntpa1,5899,lobby\n"); code != 200 {
		t.Fatalf("operator importing a hot desk: %d %s", code, body)
	}

	// The same rule under the Service, whichever method writes.
	op := service.WithRole(context.Background(), service.RoleOperator, "op")
	adm := service.WithRole(context.Background(), service.RoleAdmin, "root")
	rep, err := svc.Put(adm, "clusters", pbx.Fields{"name": "tpa2", "voice_vip": "10.0.0.9"}, service.PutOptions{Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func() error{
		"put a cluster": func() error {
			_, err := svc.Put(op, "clusters", pbx.Fields{"name": "tpa2", "voice_vip": "6.6.6.6"}, service.PutOptions{Merge: true})
			return err
		},
		"delete a site":    func() error { _, err := svc.Delete(op, "sites", "lon", ""); return err },
		"revert a cluster": func() error { _, err := svc.Revert(op, rep.Versions[0]); return err },
		"acknowledge": func() error {
			_, err := svc.Ack(op, service.AckRequest{Finding: "SEC-WEAK-PIN:lon:5021", By: "x", Why: "y"})
			return err
		},
		"import a cluster": func() error {
			_, err := svc.Import(op, service.ImportRequest{Table: "clusters", Source: "c.csv"}, strings.NewReader("name,site,voice_vip\nx,tpa,1.2.3.4\n"))
			return err
		},
	} {
		if err := write(); !errors.Is(err, service.ErrForbidden) {
			t.Errorf("operator: %s: %v, want forbidden", name, err)
		}
	}
	if _, err := svc.Put(op, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6109", "name": "Renamed"}, service.PutOptions{Merge: true}); err != nil {
		t.Errorf("operator changing an extension: %v", err)
	}
}

// TestSecretsCannotOrderRows: sorting by a secret would give its value
// away row by row, so only the role that reads secrets may.
func TestSecretsCannotOrderRows(t *testing.T) {
	svc, _ := sampleService(t)
	for _, role := range []service.Role{service.RoleRead, service.RoleOperator} {
		for _, field := range []string{"vmsecret", "secret", "md5secret"} {
			_, err := svc.List(service.WithRole(context.Background(), role, "x"), "extensions", service.Query{Sort: field})
			if !errors.Is(err, service.ErrForbidden) || !strings.Contains(err.Error(), "is a secret") {
				t.Errorf("%s sorting by %s: %v, want refused", role, field, err)
			}
		}
		if _, err := svc.List(service.WithRole(context.Background(), role, "x"), "trunks", service.Query{Sort: "secret"}); !errors.Is(err, service.ErrForbidden) {
			t.Errorf("%s sorting trunks by secret: %v, want refused", role, err)
		}
	}
	if _, err := svc.List(service.WithRole(context.Background(), service.RoleAdmin, "x"), "extensions", service.Query{Sort: "vmsecret"}); err != nil {
		t.Errorf("admin sorting by vmsecret: %v", err)
	}
}
