package httpapi

import (
	"context"
	"net/http"

	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.RaftAPI = (*Client)(nil)
)

func raftRoutes(svc *service.Service) []Route {
	return []Route{
		{"GET /v1/raft", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			st, err := svc.RaftStatus(r.Context())
			reply(w, st, err)
		}},
		{"DELETE /v1/raft/{node}", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
			err := svc.RaftRemove(r.Context(), r.PathValue("node"))
			reply(w, map[string]string{"removed": r.PathValue("node")}, err)
		}},
	}
}

// RaftStatus implements RaftAPI.
func (c *Client) RaftStatus(ctx context.Context) (*service.RaftStatus, error) {
	var st service.RaftStatus
	return &st, c.doJSON(ctx, "GET", "/v1/raft", nil, &st, nil)
}

// RaftRemove implements RaftAPI.
func (c *Client) RaftRemove(ctx context.Context, node string) error {
	return c.doJSON(ctx, "DELETE", "/v1/raft/"+node, nil, nil, nil)
}
