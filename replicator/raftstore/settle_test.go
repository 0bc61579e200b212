package raftstore

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/store"
)

// deafTransport delivers a leader's AppendEntries but, while deaf is set,
// loses the answers: the followers log (and will commit) the entry, the
// leader never learns it and steps down with the entry in flight.
type deafTransport struct {
	*raft.InmemTransport
	deaf *atomic.Bool
}

func (d deafTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := d.InmemTransport.AppendEntries(id, target, args, resp)
	if d.deaf.Load() {
		return errAnswerLost
	}
	return err
}

func (d deafTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

var errAnswerLost = errors.New("the answer was lost")

// A leader deposed with its entry on a majority: the next leader commits
// the entry, and the write is acknowledged once. It used to be proposed
// again: applied twice, and a create then failed with "already exists",
// refused by its own first copy.
func TestDeposedLeaderWriteAppliedOnce(t *testing.T) {
	deaf := map[string]*atomic.Bool{}
	c := newCluster(t, 3, func(cfg *Config, deps *Deps) {
		d := &atomic.Bool{}
		deaf[cfg.Node] = d
		deps.Transport = deafTransport{deps.Transport.(*raft.InmemTransport), d}
	})
	old := c.leader(t, 10*time.Second)
	if err := put(bg, old, "tpa1/before"); err != nil {
		t.Fatal(err)
	}
	waitSame(t, c.nodes, 5*time.Second)

	deaf[old.name].Store(true)
	go func() { // once deposed, it hears again and follows the next leader
		for old.rs.IsLeader() {
			time.Sleep(5 * time.Millisecond)
		}
		deaf[old.name].Store(false)
	}()
	_, err := old.rs.Write(bg, "probe", []store.Mutation{{Table: "extensions", Key: "tpa1/6105", Value: []byte("\x01\x00"), Must: store.MustNotExist}})
	if err != nil {
		t.Fatalf("the write was committed by the next leader, yet: %v", err)
	}
	waitSame(t, c.nodes, 10*time.Second)
	b, err := old.local.ChangesSince(store.Summary{}, func(store.Stream) bool { return true }, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ch := range b.Changes {
		if ch.Key == "tpa1/6105" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the write made %d changes, want 1", n)
	}
}
