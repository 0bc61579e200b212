package httpapi

import (
	"context"
	"net/http"

	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.DecommissionAPI = (*Client)(nil)
)

func decommissionRoutes(svc *service.Service) []Route {
	return []Route{
		{"POST /v1/repl/decommission", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
			var req service.DecommissionRequest
			if err := readJSON(r, &req); err != nil {
				writeError(w, err)
				return
			}
			rep, err := svc.Decommission(r.Context(), req)
			reply(w, rep, err)
		}},
	}
}

// Decommission implements DecommissionAPI over HTTP.
func (c *Client) Decommission(ctx context.Context, req service.DecommissionRequest) (*service.WriteReply, error) {
	var r service.WriteReply
	return &r, c.doJSON(ctx, "POST", "/v1/repl/decommission", req, &r, nil)
}
