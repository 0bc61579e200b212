package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// A Raft follower that catches up applies many committed entries in one
// store transaction; the leader applied them one at a time. The outcome
// must not depend on the batching, or the nodes of one cluster silently
// hold different data at the same applied index. Live campaigns found
// this (a node that came back from a partition never got another
// cluster's stream: "not converged ... c0-3 has 0"): an Apply entry that
// carries an echo of the cluster's own change made earlier in the same
// batch was refused as "self origin", because the check read the
// summary committed before the batch.
//
// It fails on the code before issue 15's fix.
func TestRaftBatchingDoesNotChangeTheOutcome(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(name, replica string) *store.Store {
		sc := store.DefaultConfig(filepath.Join(dir, name+".db"))
		sc.Replica, sc.Incarnation = replica, 7
		st, err := store.Open(sc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	write := func(author, key string) store.Op {
		return store.Op{Kind: store.OpWrite, Author: author, HLC: store.Now(), Scopes: []string{""},
			Muts: []store.Mutation{{Table: "extensions", Key: key, Value: pbx.Fields{"name": author}.AppendBinary(nil)}}}
	}
	changesOf := func(st *store.Store) []*store.Change {
		b, err := st.ChangesSince(store.Summary{}, func(store.Stream) bool { return true }, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return b.Changes
	}
	// Entry 1: a write at cluster c0. Entry 2: what c0's replicator pulled
	// from c1: c1's own change and the echo of c0's (a primary-mode or ring
	// pull asks for every origin).
	entry1 := []store.Op{write("alice", "c0/6101")}
	scratch := open("scratch", "c0")
	if _, err := scratch.ApplyOps(ctx, 1, entry1); err != nil {
		t.Fatal(err)
	}
	c1 := open("c1", "c1")
	if _, err := c1.Write(ctx, "bob", []store.Mutation{{Table: "extensions", Key: "c1/6102", Value: pbx.Fields{"name": "bob"}.AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	entry2 := []store.Op{{Kind: store.OpApply, Changes: append(changesOf(scratch), changesOf(c1)...)}}

	leader := open("leader", "c0") // applies each entry as it commits
	for i, e := range [][]store.Op{entry1, entry2} {
		res, err := leader.ApplyOps(ctx, uint64(i+1), e)
		if err != nil || res[0].Err != nil {
			t.Fatalf("leader, entry %d: %v %v", i+1, err, res[0].Err)
		}
	}
	follower := open("follower", "c0") // catches up: both entries in one batch
	res, err := follower.ApplyOps(ctx, 2, append(append([]store.Op{}, entry1...), entry2...))
	if err != nil {
		t.Fatal(err)
	}
	if !follower.Summary().Equal(leader.Summary()) {
		t.Fatalf("the same two entries, applied one by one and in one batch, give different stores:\n leader   %v\n follower %v (apply: %s)",
			leader.Summary(), follower.Summary(), fmt.Sprint(res[1].Err))
	}
}
