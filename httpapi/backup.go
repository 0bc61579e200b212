package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

var (
	_ service.BackupAPI = (*Client)(nil)
)

// CompactStore asks the agent to compact its store.
func (c *Client) CompactStore(ctx context.Context) (*service.CompactReply, error) {
	var out service.CompactReply
	return &out, c.doJSON(ctx, "POST", "/v1/store/compact", nil, &out, nil)
}

func backupRoutes(svc *service.Service) []Route {
	return []Route{{"POST /v1/store/compact", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
		out, err := svc.CompactStore(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, out)
	}}, {"GET /v1/backup", service.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		// A failure half way cannot change the status any more: the
		// file then fails its length or checksum check at the client.
		cw := &countingWriter{w: w}
		if _, err := svc.Backup(r.Context(), cw); err != nil && cw.n == 0 {
			writeError(w, err)
		}
	}}}
}

// Backup streams the agent's backup into w. The caller checks the file
// (store.ReadBackup) before trusting it.
func (c *Client) Backup(ctx context.Context, w io.Writer) (*store.BackupHeader, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/backup", nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.hc
	hc.Timeout = 0 // a large store takes as long as it takes; ctx bounds it
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &service.Error{Code: 503, Msg: fmt.Sprintf("cannot reach the agent at %s: %v", c.base, err), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e apiError
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return nil, &service.Error{Code: e.Error.Status, Msg: e.Error.Message}
		}
		return nil, &service.Error{Code: resp.StatusCode, Msg: "GET /v1/backup: " + resp.Status}
	}
	h, err := store.ReadBackup(io.TeeReader(resp.Body, w), io.Discard) // check it in passing
	if err != nil {
		return nil, fmt.Errorf("backup from %s: %w", c.base, err)
	}
	return &h, nil
}

// countingWriter tells whether a reply has started.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
