package ui

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/service"
)

// pageRoles is every route of the pages with the role it needs. A route
// added without a line here fails TestPageRouteTable.
var pageRoles = map[string]service.Role{
	"GET /ui/static/":             service.RoleNone,
	"GET /ui/login":               service.RoleNone,
	"POST /ui/login":              service.RoleNone, // checks the token it is given
	"POST /ui/logout":             service.RoleRead,
	"GET /ui/{$}":                 service.RoleRead,
	"GET /ui/services":            service.RoleRead,
	"GET /ui/roaming":             service.RoleRead,
	"GET /ui/groups":              service.RoleRead,
	"GET /ui/conflicts":           service.RoleRead,
	"GET /ui/conflicts/{ref...}":  service.RoleRead,
	"POST /ui/conflicts/{ref...}": service.RoleAdmin,
	"POST /ui/reveal":             service.RoleAdmin,
	"/ui/":                        service.RoleRead,
}

func TestPageRouteTable(t *testing.T) {
	_, u := newServer(t, sampleWithConflict(t), testAuth(slog.New(slog.DiscardHandler)), false)
	seen := map[string]bool{}
	for _, rt := range u.routeTable() {
		seen[rt.Pattern] = true
		want, listed := pageRoles[rt.Pattern]
		switch {
		case !listed:
			t.Errorf("page route %q (role %s) is not in pageRoles: add it with the role it needs", rt.Pattern, rt.Role)
		case rt.Role != want:
			t.Errorf("page route %q needs %s, the table says %s", rt.Pattern, rt.Role, want)
		}
		if strings.HasPrefix(rt.Pattern, "POST ") && rt.Role == service.RoleNone && rt.Pattern != "POST /ui/login" {
			t.Errorf("page route %q changes something without a role", rt.Pattern)
		}
	}
	for p := range pageRoles {
		if !seen[p] {
			t.Errorf("pageRoles lists %q, which is no route any more", p)
		}
	}
}
