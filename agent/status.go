package agent

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// StatusAPI is the live status the AMI collectors keep in the store's
// status space: the node's verify report (pbxtopo status) and the status
// of every extension (the guide's home page at a glance).
type StatusAPI interface {
	StatusReport(ctx context.Context, node string) (*ami.Report, error)
	ExtensionStatus(ctx context.Context, cluster string) ([]pbx.Fields, error)
}

var (
	_ StatusAPI = (*Service)(nil)
	_ StatusAPI = (*Client)(nil)
)

// replicaOf returns the cluster of the service's store.
func (s *Service) replicaOf() string {
	if s.deps.Cluster != "" {
		return s.deps.Cluster
	}
	if r, ok := baseStore(s.st).(interface{ Replica() string }); ok {
		return r.Replica()
	}
	return ""
}

// StatusReport implements StatusAPI over the local store: the report of
// node (or of the node holding the VIP) of this store's cluster.
func (s *Service) StatusReport(ctx context.Context, node string) (*ami.Report, error) {
	var r *ami.Report
	err := s.st.View(func(sn *store.Snapshot) error {
		var err error
		r, err = ami.BuildReport(sn, s.replicaOf(), node, time.Now(), ami.DefaultStaleness)
		return err
	})
	if err == nil && s.deps.Certs != nil {
		r.Problems = append(r.Problems, certWarnings(s.deps.Certs(), time.Now())...)
	}
	if err == nil && s.deps.Published != nil && (r.Node == s.deps.Node || r.Node == "") {
		r.AddPublished(s.deps.Published())
	}
	if err == nil && s.deps.MySQL != nil && (r.Node == s.deps.Node || r.Node == "") {
		r.AddBridge(bridgeSection(s.deps.MySQL()))
	}
	return r, userError(err)
}

// ExtensionStatus implements StatusAPI: every configured extension of a
// cluster (this store's when cluster is "") with its merged status
// columns.
func (s *Service) ExtensionStatus(ctx context.Context, cluster string) ([]pbx.Fields, error) {
	if cluster == "" {
		cluster = s.replicaOf()
	}
	var rows []pbx.Fields
	err := s.st.View(func(sn *store.Snapshot) error {
		status, err := ami.Extensions(sn, cluster)
		if err != nil {
			return err
		}
		return sn.Scan("extensions", cluster+"/", func(key string, value []byte) error {
			row := pbx.Fields{"cluster": cluster}
			for _, f := range []string{"regexten", "name", "astgroup", "mailbox"} {
				row[f], _ = pbx.LookupField(value, f)
			}
			if v, ok := status[key]; ok {
				for k, val := range v.Fields {
					row[k] = val
				}
			}
			rows = append(rows, row.Compact())
			return nil
		})
	})
	sort.SliceStable(rows, func(i, j int) bool { return rows[i]["regexten"] < rows[j]["regexten"] })
	if rows == nil {
		rows = []pbx.Fields{}
	}
	return rows, userError(err)
}

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
func statusRoutes(svc StatusAPI) []Route {
	return []Route{
		{"GET /v1/status", RoleRead, func(w http.ResponseWriter, r *http.Request) {
			rep, err := svc.StatusReport(r.Context(), r.URL.Query().Get("node"))
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, 200, rep)
		}},
		{"GET /v1/status/extensions", RoleRead, func(w http.ResponseWriter, r *http.Request) {
			rows, err := svc.ExtensionStatus(r.Context(), r.URL.Query().Get("cluster"))
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, 200, rows)
		}},
	}
}
