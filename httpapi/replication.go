package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.ReplicationAPI = (*Client)(nil)
)

func replicationRoutes(svc *service.Service) []Route {
	return []Route{
		{"GET /v1/members", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			m, err := svc.Members(r.Context())
			reply(w, m, err)
		}},
		{"GET /v1/repl/status", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			st, err := svc.ReplStatus(r.Context())
			reply(w, st, err)
		}},
		{"GET /v1/repl/verify", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			v, err := svc.ReplVerify(r.Context())
			reply(w, v, err)
		}},
		{"PUT /v1/repl/topology", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
			var ch service.TopologyChange
			if err := readJSON(r, &ch); err != nil {
				writeError(w, err)
				return
			}
			res, err := svc.SetTopology(r.Context(), ch)
			reply(w, res, err)
		}},
		{"GET /v1/conflicts", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			cs, err := svc.Conflicts(r.Context())
			for i := range cs {
				redactConflict(r.Context(), &cs[i])
			}
			reply(w, cs, err)
		}},
		{"GET /v1/conflicts/{ref...}", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			cv, err := svc.Conflict(r.Context(), r.PathValue("ref"))
			if err == nil {
				redactConflict(r.Context(), cv)
			}
			reply(w, cv, err)
		}},
		{"POST /v1/conflicts/{ref...}", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
			var req service.ResolveRequest
			if err := readJSON(r, &req); err != nil {
				writeError(w, err)
				return
			}
			res, err := svc.Resolve(r.Context(), r.PathValue("ref"), req)
			reply(w, res, err)
		}},
	}
}

// redactConflict hides secrets from a caller below admin.
func redactConflict(ctx context.Context, cv *service.ConflictView) {
	t, err := pbx.LookupTable(cv.Table)
	if err != nil || service.RoleFrom(ctx).Allows(service.RoleAdmin) {
		return
	}
	cv.Fields = t.Redact(cv.Fields)
	for i := range cv.Conflicts {
		for j := range cv.Conflicts[i].Sides {
			cv.Conflicts[i].Sides[j].Fields = t.Redact(cv.Conflicts[i].Sides[j].Fields)
		}
	}
}

// Members implements ReplicationAPI.
func (c *Client) Members(ctx context.Context) ([]replicator.Member, error) {
	var m []replicator.Member
	return m, c.doJSON(ctx, "GET", "/v1/members", nil, &m, nil)
}

// ReplStatus implements ReplicationAPI.
func (c *Client) ReplStatus(ctx context.Context) (*service.ReplStatus, error) {
	var s service.ReplStatus
	return &s, c.doJSON(ctx, "GET", "/v1/repl/status", nil, &s, nil)
}

// ReplVerify implements ReplicationAPI.
func (c *Client) ReplVerify(ctx context.Context) (*service.VerifyReport, error) {
	var v service.VerifyReport
	return &v, c.doJSON(ctx, "GET", "/v1/repl/verify", nil, &v, nil)
}

// SetTopology implements ReplicationAPI.
func (c *Client) SetTopology(ctx context.Context, t service.TopologyChange) (*service.WriteReply, error) {
	var r service.WriteReply
	return &r, c.doJSON(ctx, "PUT", "/v1/repl/topology", t, &r, nil)
}

// Conflicts implements ReplicationAPI.
func (c *Client) Conflicts(ctx context.Context) ([]service.ConflictView, error) {
	var cs []service.ConflictView
	return cs, c.doJSON(ctx, "GET", "/v1/conflicts", nil, &cs, nil)
}

// Conflict implements ReplicationAPI.
func (c *Client) Conflict(ctx context.Context, ref string) (*service.ConflictView, error) {
	var cv service.ConflictView
	return &cv, c.doJSON(ctx, "GET", "/v1/conflicts/"+escapeRef(ref), nil, &cv, nil)
}

// Resolve implements ReplicationAPI.
func (c *Client) Resolve(ctx context.Context, ref string, req service.ResolveRequest) (*service.WriteReply, error) {
	var r service.WriteReply
	return &r, c.doJSON(ctx, "POST", "/v1/conflicts/"+escapeRef(ref), req, &r, nil)
}

func escapeRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
