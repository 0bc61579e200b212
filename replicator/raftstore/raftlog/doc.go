// Package raftlog is a Raft LogStore and StableStore for hashicorp/raft:
// an append-only write-ahead log in segment files, one write and one fsync
// per StoreLogs batch, and the stable keys (term, vote) in a small file
// replaced atomically. See ../DESIGN.md for why it replaced raft-boltdb.
package raftlog
