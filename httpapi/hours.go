package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.HoursAPI = (*Client)(nil)
)

func hoursQuery(cluster string, at time.Time) string {
	q := url.Values{}
	if cluster != "" {
		q.Set("cluster", cluster)
	}
	if !at.IsZero() {
		q.Set("at", at.UTC().Format(time.RFC3339))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// HoursNow implements HoursAPI over HTTP.
func (c *Client) HoursNow(ctx context.Context, group, cluster string, at time.Time) (*service.HoursAnswer, error) {
	var v service.HoursAnswer
	err := c.doJSON(ctx, "GET", "/v1/hours/"+url.PathEscape(group)+"/now"+hoursQuery(cluster, at), nil, &v, nil)
	return &v, err
}

// HoursDialplan implements HoursAPI over HTTP.
func (c *Client) HoursDialplan(ctx context.Context, group, cluster string) (*service.HoursDialplanView, error) {
	var v service.HoursDialplanView
	err := c.doJSON(ctx, "GET", "/v1/hours/"+url.PathEscape(group)+"/dialplan"+hoursQuery(cluster, time.Time{}), nil, &v, nil)
	return &v, err
}

// hoursRoutes: business hours hold no secrets, so the read role may ask.
func hoursRoutes(svc service.HoursAPI) []Route {
	return []Route{
		{"GET /v1/hours/{group}/now", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			at := time.Now()
			if v := r.URL.Query().Get("at"); v != "" {
				var err error
				if at, err = time.Parse(time.RFC3339, v); err != nil {
					writeError(w, &service.Error{Code: 400, Msg: "at=" + v + " is not an RFC 3339 time: give e.g. 2026-12-25T15:00:00Z"})
					return
				}
			}
			v, err := svc.HoursNow(r.Context(), r.PathValue("group"), r.URL.Query().Get("cluster"), at)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, 200, v)
		}},
		{"GET /v1/hours/{group}/dialplan", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			v, err := svc.HoursDialplan(r.Context(), r.PathValue("group"), r.URL.Query().Get("cluster"))
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, 200, v)
		}},
	}
}
