package httpapi

import (
	"context"
	"net/http"

	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.GossipAPI = (*Client)(nil)
)

func gossipRoutes(svc *service.Service) []Route {
	return []Route{
		{"GET /v1/gossip/keys", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
			keys, err := svc.GossipKeys(r.Context())
			reply(w, keys, err)
		}},
		{"POST /v1/gossip/keys/{op}", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Key string `json:"key"`
			}
			if err := readJSON(r, &body); err != nil {
				writeError(w, err)
				return
			}
			err := svc.GossipKeyOp(r.Context(), r.PathValue("op"), body.Key)
			reply(w, map[string]string{"status": "ok"}, err)
		}},
	}
}

// GossipKeys implements GossipAPI.
func (c *Client) GossipKeys(ctx context.Context) (map[string]int, error) {
	var keys map[string]int
	return keys, c.doJSON(ctx, "GET", "/v1/gossip/keys", nil, &keys, nil)
}

// GossipKeyOp implements GossipAPI.
func (c *Client) GossipKeyOp(ctx context.Context, op, key string) error {
	return c.doJSON(ctx, "POST", "/v1/gossip/keys/"+op, map[string]string{"key": key}, nil, nil)
}
