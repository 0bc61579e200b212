package raftlog

import "errors"

var (
	// ErrKeyNotFound is what Get returns for a key never set. hashicorp/raft
	// recognises it by its text, "not found".
	ErrKeyNotFound = errors.New("not found")
	// ErrCorrupt marks a log whose written records fail their checks
	// somewhere other than a torn tail: the node must not start on it.
	ErrCorrupt = errors.New("raftlog: corrupt")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("raftlog: closed")
)
