package raftstore

import (
	"fmt"

	"github.com/pbxtopo/pbxtopo/store"
)

// EntrySealer seals Raft log entries at rest: the log's files (wal/)
// hold every write's values until it is compacted, secrets included.
// *secrets.Keyring is one. Every node of a cluster holds the same key (a
// follower also installs the leader's store snapshots, sealed with it).
type EntrySealer interface {
	SealBytes(b, aad []byte) ([]byte, error)
	OpenBytes(v, aad []byte) ([]byte, error)
}

var entryAAD = []byte("raft-entry")

// sealEntry seals an encoded entry when the node has a sealer.
func (s *Store) sealEntry(data []byte) ([]byte, error) {
	if s.deps.Sealer == nil {
		return data, nil
	}
	out, err := s.deps.Sealer.SealBytes(data, entryAAD)
	if err != nil {
		return nil, fmt.Errorf("raft: seal entry: %w", err)
	}
	return out, nil
}

// openEntry opens a sealed entry; entries written before a key was set
// are plain. A node that cannot open an entry must not skip it (its store
// would silently differ from the others'), so the FSM stops on that error.
func openEntry(sl EntrySealer, data []byte) ([]byte, error) {
	if len(data) == 0 || data[0] != store.SealedMark {
		return data, nil
	}
	if sl == nil {
		return nil, fmt.Errorf("%w: the Raft log holds sealed entries: give this node the cluster's key (secrets.key_file or PBXTOPO_SECRETS_KEY)", store.ErrSealed)
	}
	out, err := sl.OpenBytes(data, entryAAD)
	if err != nil {
		return nil, fmt.Errorf("raft: open entry (every node of a cluster needs the same secrets key): %w", err)
	}
	return out, nil
}
