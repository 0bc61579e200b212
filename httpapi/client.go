package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// Client talks to an agent's HTTP API; it implements API, so the CLI
// works the same against a running agent as offline.
type Client struct {
	base  string
	token string
	hc    *http.Client
	fresh bool // reads through the cluster's leader (FreshHeader)
}

// FreshHeader on a read asks the agent to first catch up with every write
// its cluster acknowledged (a read through the leader); without it reads
// are local, stale by at most the Raft lag.
const FreshHeader = "X-Pbxtopo-Fresh"

// Fresh makes every read of the client a read through the leader.
func (c *Client) Fresh() *Client { cp := *c; cp.fresh = true; return &cp }

var _ service.API = (*Client)(nil)

// maxIdleConns is how many connections to one agent a client keeps open
// between requests.
const maxIdleConns = 64

// NewClient returns a client for the agent at addr ("127.0.0.1:7480" or a URL).
func NewClient(addr, token string) (*Client, error) { return NewClientTLS(addr, token, nil) }

// NewClientTLS is NewClient with a TLS configuration for https:// addresses
// (a CA to trust, a client certificate to present).
func NewClientTLS(addr, token string, tlsCfg *tls.Config) (*Client, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--addr %q: want HOST:PORT or http(s)://HOST:PORT", addr)
	}
	// One client may serve many goroutines at once (a NOC's tool, the api
	// bench's 50 clients): net/http keeps 2 idle connections per host by
	// default, so all but 2 of 50 concurrent requests would each open a
	// new connection.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxIdleConns
	if tlsCfg != nil {
		t.TLSClientConfig = tlsCfg
	}
	hc := &http.Client{Timeout: 5 * time.Minute, Transport: t}
	return &Client{base: strings.TrimRight(u.String(), "/"), token: token, hc: hc}, nil
}

// Do sends a request and decodes a JSON reply into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, header http.Header, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if method != "GET" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json") // every write says what it sends (csrf.go)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.fresh && method == "GET" {
		req.Header.Set(FreshHeader, "1")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &service.Error{Code: 503, Msg: fmt.Sprintf("cannot reach the agent at %s: %v", c.base, err), Err: err}
	}
	defer resp.Body.Close()
	data, err := readAllLimited(resp.Body, maxImportBody)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != 422 {
		var e apiError
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return &service.Error{Code: e.Error.Status, Msg: e.Error.Message}
		}
		return &service.Error{Code: resp.StatusCode, Msg: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: bad reply: %w", method, path, err)
	}
	return nil
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any, header http.Header) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
		if header == nil {
			header = http.Header{}
		}
		header.Set("Content-Type", "application/json")
	}
	return c.Do(ctx, method, path, body, header, out)
}

func recordPath(table, key string) string {
	if table == "extensions" {
		return "/v1/extensions/" + key
	}
	return "/v1/tables/" + url.PathEscape(table) + "/" + key
}

func tablePath(table string) string {
	if table == "extensions" {
		return "/v1/extensions"
	}
	return "/v1/tables/" + url.PathEscape(table)
}

// List implements API.
func (c *Client) List(ctx context.Context, table string, q service.Query) (*service.Page, error) {
	v := url.Values{}
	for k, s := range map[string]string{"group": q.Group, "cluster": q.Cluster, "site": q.Site, "search": q.Search, "sort": q.Sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Desc {
		v.Set("desc", "true")
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var p service.Page
	err := c.doJSON(ctx, "GET", tablePath(table)+"?"+v.Encode(), nil, &p, nil)
	return &p, err
}

// Get implements API.
func (c *Client) Get(ctx context.Context, table, key string) (*service.RecordView, error) {
	var v service.RecordView
	err := c.doJSON(ctx, "GET", recordPath(table, key), nil, &v, nil)
	return &v, err
}

// Put implements API.
func (c *Client) Put(ctx context.Context, table string, f pbx.Fields, opts service.PutOptions) (*service.WriteReply, error) {
	var r service.WriteReply
	if opts.Must == store.MustNotExist {
		err := c.doJSON(ctx, "POST", tablePath(table), f, &r, nil)
		return &r, err
	}
	t, err := pbx.LookupTable(table)
	if err != nil {
		return nil, &service.Error{Code: 400, Msg: err.Error()}
	}
	h := http.Header{}
	if opts.IfMatch != "" {
		h.Set("If-Match", strconv.Quote(opts.IfMatch))
	}
	method := "PUT"
	if opts.Merge {
		method = "PATCH"
	}
	path := recordPath(table, t.KeyOf(f))
	if opts.Take != "" {
		path += "?take=" + url.QueryEscape(opts.Take)
	}
	err = c.doJSON(ctx, method, path, f, &r, h)
	return &r, err
}

// Delete implements API.
func (c *Client) Delete(ctx context.Context, table, key, ifMatch string) (*service.WriteReply, error) {
	h := http.Header{}
	if ifMatch != "" {
		h.Set("If-Match", strconv.Quote(ifMatch))
	}
	var r service.WriteReply
	err := c.doJSON(ctx, "DELETE", recordPath(table, key), nil, &r, h)
	return &r, err
}

// Batch implements API.
func (c *Client) Batch(ctx context.Context, req service.BatchRequest) (*service.BatchReply, error) {
	var r service.BatchReply
	err := c.doJSON(ctx, "POST", "/v1/batch", req, &r, nil)
	return &r, err
}

// Import implements API.
func (c *Client) Import(ctx context.Context, req service.ImportRequest, body io.Reader) (*service.ImportReply, error) {
	v := url.Values{"table": {req.Table}, "source": {req.Source}}
	if req.DryRun {
		v.Set("dry_run", "true")
	}
	var r service.ImportReply
	err := c.Do(ctx, "POST", "/v1/import?"+v.Encode(), body, http.Header{"Content-Type": {"text/csv"}}, &r)
	return &r, err
}

// Export implements API.
func (c *Client) Export(ctx context.Context, table string) ([]pbx.Fields, error) {
	var data []byte
	if err := c.Do(ctx, "GET", "/v1/export?format=json&table="+url.QueryEscape(table), nil, nil, &data); err != nil {
		return nil, err
	}
	var rows []pbx.Fields
	err := json.Unmarshal(data, &rows)
	return rows, err
}

// History implements API.
func (c *Client) History(ctx context.Context, table, key string) ([]service.HistoryItem, error) {
	var items []service.HistoryItem
	err := c.doJSON(ctx, "GET", "/v1/history/"+url.PathEscape(table)+"/"+key, nil, &items, nil)
	return items, err
}

// Revert implements API.
func (c *Client) Revert(ctx context.Context, id string) (*service.WriteReply, error) {
	var r service.WriteReply
	err := c.doJSON(ctx, "POST", "/v1/revert/"+url.PathEscape(id), nil, &r, nil)
	return &r, err
}
