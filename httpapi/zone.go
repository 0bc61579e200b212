package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.ZoneAPI = (*Client)(nil)
)

// Zone implements ZoneAPI over HTTP.
func (c *Client) Zone(ctx context.Context, domain string) (*service.ZoneView, error) {
	var v service.ZoneView
	path := "/v1/zone"
	if domain != "" {
		path += "?domain=" + url.QueryEscape(domain)
	}
	err := c.doJSON(ctx, "GET", path, nil, &v, nil)
	return &v, err
}

// zoneRoutes serve the zone; it holds no secrets, so the read role may
// see it.
func zoneRoutes(svc service.ZoneAPI) []Route {
	return []Route{{"GET /v1/zone", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
		v, err := svc.Zone(r.Context(), r.URL.Query().Get("domain"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, v)
	}}}
}
