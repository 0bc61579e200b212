package service

import (
	"context"

	"github.com/pbxtopo/pbxtopo/srv"
)

// RaftView is what the service needs of the cluster's consensus.
type RaftView interface {
	State() string
	LeaderNode() string
	Servers() (map[string]string, error)
	Remove(node string) error
	// ReadBarrier returns once this node holds every write the cluster
	// acknowledged before the call (a read through the leader).
	ReadBarrier(ctx context.Context) error
	// Ready reports whether the node caught up with its cluster's log
	// since it started, and what it is doing until then.
	Ready() (bool, string)
	// Stalled says why the node stopped applying its cluster's log, or nil.
	Stalled() error
}

// Health is what /v1/health says of this node.
type Health struct {
	// Status is "ok", "starting" (replaying its Raft log: the API answers
	// 503 until done) or "unhealthy" (it stopped applying the log).
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// DNSHold says the node's DNS answers come from its last good view of
	// cluster health (the hold-down rule); it serves meanwhile.
	DNSHold *srv.Hold `json:"dns_hold,omitempty"`
}

// Health reports whether this node serves, and why not.
func (s *Service) Health() Health {
	h := Health{Status: "ok", DNSHold: s.dnsHold()}
	if s.deps.Raft == nil {
		return h
	}
	if err := s.deps.Raft.Stalled(); err != nil {
		h.Status, h.Reason = "unhealthy", err.Error()
	} else if ok, why := s.deps.Raft.Ready(); !ok {
		h.Status, h.Reason = "starting", why
	}
	return h
}

// RaftStatus is this node's view of its cluster's Raft group.
type RaftStatus struct {
	Node    string            `json:"node"`
	State   string            `json:"state"`
	Leader  string            `json:"leader"`
	Servers map[string]string `json:"servers"` // node → Voter, Nonvoter
}

// RaftAPI is the Raft surface of the agent.
type RaftAPI interface {
	RaftStatus(ctx context.Context) (*RaftStatus, error)
	RaftRemove(ctx context.Context, node string) error
}

var (
	_ RaftAPI = (*Service)(nil)
)

// RaftStatus returns this node's Raft state and the configuration.
func (s *Service) RaftStatus(ctx context.Context) (*RaftStatus, error) {
	if s.deps.Raft == nil {
		return nil, s.needAgent("raft status")
	}
	servers, err := s.deps.Raft.Servers()
	if err != nil {
		return nil, err
	}
	return &RaftStatus{Node: s.deps.Node, State: s.deps.Raft.State(), Leader: s.deps.Raft.LeaderNode(), Servers: servers}, nil
}

// ReadBarrier waits until this node holds every write its cluster
// acknowledged before the call; without Raft every read is already so.
func (s *Service) ReadBarrier(ctx context.Context) error {
	if s.deps.Raft == nil {
		return nil
	}
	if err := s.deps.Raft.ReadBarrier(ctx); err != nil {
		return &Error{Code: 503, Msg: "a read through the leader failed: " + err.Error() + "; the cluster has no leader now, read without --fresh for this node's copy", Err: err}
	}
	return nil
}

// RaftRemove takes a node out of the cluster's Raft configuration for
// good: a node that is only down stays (it catches up when it returns).
func (s *Service) RaftRemove(ctx context.Context, node string) error {
	if s.deps.Raft == nil {
		return s.needAgent("raft remove")
	}
	if err := s.deps.Raft.Remove(node); err != nil {
		return &Error{Code: 409, Msg: err.Error() + "; run the command against the leader's API", Err: err}
	}
	return nil
}
