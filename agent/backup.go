package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// BackupAPI takes a backup of a node's store (with Raft, of its cluster's
// state: every node's store is the state Raft applied) and compacts it.
type BackupAPI interface {
	Backup(ctx context.Context, w io.Writer) (*store.BackupHeader, error)
	CompactStore(ctx context.Context) (*CompactReply, error)
}

// CompactReply gives a compaction's file sizes.
type CompactReply struct {
	Before  int64   `json:"before_bytes"`
	After   int64   `json:"after_bytes"`
	Seconds float64 `json:"seconds"`
}

// CompactStore compacts this node's store file in place; reads and writes
// wait meanwhile (store.CompactOnline).
func (s *Service) CompactStore(ctx context.Context) (*CompactReply, error) {
	st := s.localStore()
	if st == nil {
		return nil, &Error{Code: 500, Msg: "compact: this service has no local store"}
	}
	start := time.Now()
	res, err := st.CompactOnline()
	if err != nil {
		return nil, userError(err)
	}
	return &CompactReply{Before: res.Before, After: res.After, Seconds: time.Since(start).Seconds()}, nil
}

// CompactStore asks the agent to compact its store.
func (c *Client) CompactStore(ctx context.Context) (*CompactReply, error) {
	var out CompactReply
	return &out, c.doJSON(ctx, "POST", "/v1/store/compact", nil, &out, nil)
}

var (
	_ BackupAPI = (*Service)(nil)
	_ BackupAPI = (*Client)(nil)
)

// localStore returns the bbolt store under the service's store (the
// store itself, or the local one under Raft), or nil.
func (s *Service) localStore() *store.Store {
	switch st := baseStore(s.st).(type) {
	case *store.Store:
		return st
	case interface{ Local() *store.Store }:
		return st.Local()
	}
	return nil
}

// Backup writes a checksummed backup of the store to w (store.Backup):
// one read transaction, so writes go on meanwhile.
func (s *Service) Backup(ctx context.Context, w io.Writer) (*store.BackupHeader, error) {
	st := s.localStore()
	if st == nil {
		return nil, &Error{Code: 500, Msg: "backup: this service has no local store"}
	}
	h, err := st.Backup(w, s.deps.Node)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

func backupRoutes(svc *Service) []Route {
	return []Route{{"POST /v1/store/compact", RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
		out, err := svc.CompactStore(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, out)
	}}, {"GET /v1/backup", RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		// A failure half way cannot change the status any more: the
		// file then fails its length or checksum check at the client.
		if _, err := svc.Backup(r.Context(), w); err != nil && svc.localStore() == nil {
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
		return nil, &Error{Code: 503, Msg: fmt.Sprintf("cannot reach the agent at %s: %v", c.base, err), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e apiError
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return nil, &Error{Code: e.Error.Status, Msg: e.Error.Message}
		}
		return nil, &Error{Code: resp.StatusCode, Msg: "GET /v1/backup: " + resp.Status}
	}
	h, err := store.ReadBackup(io.TeeReader(resp.Body, w), io.Discard) // check it in passing
	if err != nil {
		return nil, fmt.Errorf("backup from %s: %w", c.base, err)
	}
	return &h, nil
}
