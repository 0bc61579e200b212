package replicator

import "errors"

// Sentinel errors, tested with errors.Is. Messages wrapped around them name
// the peer, message or table and say what to do.
var (
	// ErrMessage wraps every error about a malformed message.
	ErrMessage = errors.New("malformed replication message")
	// ErrTooLarge: a message beyond the size limit.
	ErrTooLarge = errors.New("replication message too large")
	// ErrVersion: a peer speaking a protocol this code does not know.
	ErrVersion = errors.New("unknown replication protocol version")
	// ErrReadOnlyReplica: a configuration write on a replica in primary mode.
	ErrReadOnlyReplica = errors.New("read-only replica")
	// ErrRevoked: the peer belongs to a decommissioned cluster.
	ErrRevoked = errors.New("decommissioned")
)
