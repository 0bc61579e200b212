package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
)

var (
	_ service.RoamingAPI = (*Client)(nil)
)

// roamingRoutes are the HTTP routes of RoamingAPI.
func roamingRoutes(svc service.RoamingAPI) []Route {
	return []Route{
		{"GET /v1/roaming", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			rep, err := svc.Roaming(r.Context(), roaming.Filter{Group: q.Get("group"), Cluster: q.Get("cluster"),
				Site: q.Get("site"), Sort: q.Get("sort"), Desc: q.Get("desc") == "true"})
			reply(w, rep, err)
		}},
		{"GET /v1/audit", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			aq := service.AuditQuery{Severity: q.Get("severity"), HotDeskContexts: pbx.List(q.Get("hotdesk_contexts"))}
			var err error
			if aq.MinSecretLength, err = intParam(q.Get("min_secret_length")); err == nil {
				aq.MinPINLength, err = intParam(q.Get("min_pin_length"))
			}
			if err != nil {
				writeError(w, err)
				return
			}
			res, err := svc.Audit(r.Context(), aq)
			reply(w, res, err)
		}},
		{"POST /v1/audit/acks", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
			var req service.AckRequest
			if err := readJSON(r, &req); err != nil {
				writeError(w, err)
				return
			}
			res, err := svc.Ack(r.Context(), req)
			reply(w, res, err)
		}},
		{"DELETE /v1/audit/acks/{finding}", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
			res, err := svc.Unack(r.Context(), r.PathValue("finding"))
			reply(w, res, err)
		}},
		{"GET /v1/dundi/config", service.RoleRead, func(w http.ResponseWriter, r *http.Request) {
			b, err := svc.DUNDiConfig(r.Context(), r.URL.Query().Get("cluster"))
			reply(w, b, err)
		}},
	}
}

// Roaming implements RoamingAPI.
func (c *Client) Roaming(ctx context.Context, f roaming.Filter) (*roaming.Report, error) {
	v := url.Values{}
	for k, s := range map[string]string{"group": f.Group, "cluster": f.Cluster, "site": f.Site, "sort": f.Sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Desc {
		v.Set("desc", "true")
	}
	var r roaming.Report
	err := c.doJSON(ctx, "GET", "/v1/roaming?"+v.Encode(), nil, &r, nil)
	return &r, err
}

// Audit implements RoamingAPI.
func (c *Client) Audit(ctx context.Context, q service.AuditQuery) (*roaming.AuditResult, error) {
	v := url.Values{}
	if q.Severity != "" {
		v.Set("severity", q.Severity)
	}
	if q.MinSecretLength > 0 {
		v.Set("min_secret_length", strconv.Itoa(q.MinSecretLength))
	}
	if q.MinPINLength > 0 {
		v.Set("min_pin_length", strconv.Itoa(q.MinPINLength))
	}
	if len(q.HotDeskContexts) > 0 {
		v.Set("hotdesk_contexts", strings.Join(q.HotDeskContexts, ","))
	}
	var r roaming.AuditResult
	err := c.doJSON(ctx, "GET", "/v1/audit?"+v.Encode(), nil, &r, nil)
	return &r, err
}

// Ack implements RoamingAPI.
func (c *Client) Ack(ctx context.Context, req service.AckRequest) (*service.WriteReply, error) {
	var r service.WriteReply
	err := c.doJSON(ctx, "POST", "/v1/audit/acks", req, &r, nil)
	return &r, err
}

// Unack implements RoamingAPI.
func (c *Client) Unack(ctx context.Context, finding string) (*service.WriteReply, error) {
	var r service.WriteReply
	err := c.doJSON(ctx, "DELETE", "/v1/audit/acks/"+url.PathEscape(finding), nil, &r, nil)
	return &r, err
}

// DUNDiConfig implements RoamingAPI.
func (c *Client) DUNDiConfig(ctx context.Context, cluster string) (*roaming.Bundle, error) {
	var b roaming.Bundle
	err := c.doJSON(ctx, "GET", "/v1/dundi/config?cluster="+url.QueryEscape(cluster), nil, &b, nil)
	return &b, err
}
