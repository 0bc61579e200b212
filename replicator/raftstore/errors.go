package raftstore

import (
	"errors"

	"github.com/pbxtopo/pbxtopo/store"
)

// Sentinel errors, tested with errors.Is.
var (
	// ErrNoLeader: no leader could be reached to take a write.
	// Nothing was written; it is a store.ErrUnavailable (HTTP 503).
	ErrNoLeader error = unavailable("no Raft leader in this cluster")
	// ErrUncertain: a write was proposed but its commit was not seen in
	// time; it may still commit, so it is not retried.
	ErrUncertain = errors.New("write outcome unknown")
	// ErrStalled: this node stopped applying the cluster's log.
	ErrStalled = errors.New("this node stopped applying the Raft log")
)

// unavailable is an error that is also store.ErrUnavailable.
type unavailable string

func (e unavailable) Error() string      { return string(e) }
func (unavailable) Is(target error) bool { return target == store.ErrUnavailable }
