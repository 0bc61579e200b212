package raftstore

import "errors"

// Sentinel errors, tested with errors.Is.
var (
	// ErrNoLeader: no leader could be reached to take a write.
	ErrNoLeader = errors.New("no Raft leader in this cluster")
	// ErrUncertain: a write was proposed but its commit was not seen in
	// time; it may still commit, so it is not retried.
	ErrUncertain = errors.New("write outcome unknown")
	// ErrStalled: this node stopped applying the cluster's log.
	ErrStalled = errors.New("this node stopped applying the Raft log")
)
