package httpapi

import (
	"context"
	"net/http"

	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.MoveAPI = (*Client)(nil)
)

func moveRoutes(svc *service.Service) []Route {
	return []Route{
		{"POST /v1/extensions/move", service.RoleOperator, func(w http.ResponseWriter, r *http.Request) {
			var req service.MoveRequest
			if err := readJSON(r, &req); err != nil {
				writeError(w, err)
				return
			}
			rep, err := svc.Move(r.Context(), req)
			reply(w, rep, err)
		}},
	}
}

// Move implements MoveAPI over HTTP.
func (c *Client) Move(ctx context.Context, req service.MoveRequest) (*service.WriteReply, error) {
	var r service.WriteReply
	return &r, c.doJSON(ctx, "POST", "/v1/extensions/move", req, &r, nil)
}
