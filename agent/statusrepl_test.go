package agent

import (
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore"
)

// The agent hands the replicator its Raft store: status replication needs
// it to read and merge status (through Raft).
var _ replicator.StatusStore = (*raftstore.Store)(nil)
