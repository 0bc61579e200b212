package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.StatusAPI = (*Client)(nil)
)

// StatusReport implements StatusAPI over HTTP.
func (c *Client) StatusReport(ctx context.Context, node string) (*ami.Report, error) {
	var r ami.Report
	err := c.doJSON(ctx, "GET", "/v1/status?node="+url.QueryEscape(node), nil, &r, nil)
	return &r, err
}

// ExtensionStatus implements StatusAPI over HTTP.
func (c *Client) ExtensionStatus(ctx context.Context, cluster string) ([]pbx.Fields, error) {
	var rows []pbx.Fields
	err := c.doJSON(ctx, "GET", "/v1/status/extensions?cluster="+url.QueryEscape(cluster), nil, &rows, nil)
	return rows, err
}

// statusRoutes are the routes of StatusAPI.
func statusRoutes(svc service.StatusAPI) []Route {
	return []Route{
		{"GET /v1/status", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			rep, err := svc.StatusReport(r.Context(), r.URL.Query().Get("node"))
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, 200, rep)
		}},
		{"GET /v1/status/extensions", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			rows, err := svc.ExtensionStatus(r.Context(), r.URL.Query().Get("cluster"))
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, 200, rows)
		}},
	}
}
