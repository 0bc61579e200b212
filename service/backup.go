package service

import (
	"context"
	"io"
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
		return nil, UserError(err)
	}
	return &CompactReply{Before: res.Before, After: res.After, Seconds: time.Since(start).Seconds()}, nil
}

var (
	_ BackupAPI = (*Service)(nil)
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
