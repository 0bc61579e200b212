package ui

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/agent"
)

// pageRoles is every route of the pages with the role it needs. A route
// added without a line here fails TestPageRouteTable.
var pageRoles = map[string]agent.Role{
	"GET /ui/static/":             agent.RoleNone,
	"GET /ui/login":               agent.RoleNone,
	"POST /ui/login":              agent.RoleNone, // checks the token it is given
	"POST /ui/logout":             agent.RoleRead,
	"GET /ui/{$}":                 agent.RoleRead,
	"GET /ui/services":            agent.RoleRead,
	"GET /ui/roaming":             agent.RoleRead,
	"GET /ui/groups":              agent.RoleRead,
	"GET /ui/conflicts":           agent.RoleRead,
	"GET /ui/conflicts/{ref...}":  agent.RoleRead,
	"POST /ui/conflicts/{ref...}": agent.RoleAdmin,
	"POST /ui/reveal":             agent.RoleAdmin,
	"/ui/":                        agent.RoleRead,
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
		if strings.HasPrefix(rt.Pattern, "POST ") && rt.Role == agent.RoleNone && rt.Pattern != "POST /ui/login" {
			t.Errorf("page route %q changes something without a role", rt.Pattern)
		}
	}
	for p := range pageRoles {
		if !seen[p] {
			t.Errorf("pageRoles lists %q, which is no route any more", p)
		}
	}
}
