package raftstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/store"
)

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
	}
}

func has(nd *node, key string) bool {
	_, ok, _ := nd.local.Get("extensions", key)
	return ok
}

// TestRestartNeverGoesBackInTime restarts every node of a cluster whose
// Raft took snapshots while writes went on: right after a node starts,
// before Raft has replayed anything, its store still holds every write it
// held before (Raft restored its last snapshot over the store on every
// start, rewinding it to the snapshot until the log was replayed).
func TestRestartNeverGoesBackInTime(t *testing.T) {
	small := func(c *Config, _ *Deps) { c.SnapshotThreshold, c.TrailingLogs = 16, 4 }
	c := newCluster(t, 3, small)
	leader := c.leader(t, 10*time.Second)
	for i := 0; i < 200; i++ {
		if err := put(bg, leader, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitSame(t, c.nodes, 10*time.Second)
	for _, nd := range c.nodes {
		if err := nd.rs.Raft().Snapshot().Error(); err != nil && !strings.Contains(err.Error(), "nothing new") {
			t.Fatal(err)
		}
	}
	leader = c.leader(t, 10*time.Second)
	for i := 200; i < 220; i++ { // after the last snapshot
		if err := put(bg, leader, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitSame(t, c.nodes, 10*time.Second)
	for _, nd := range c.nodes {
		index := nd.local.RaftIndex()
		c.kill(nd)
		c.revive(nd, 3, small)
		if got := nd.local.RaftIndex(); got < index || !has(nd, "tpa1/219") {
			t.Fatalf("%s went back in time on restart: raft index %d, was %d", nd.name, got, index)
		}
	}
	c.leader(t, 10*time.Second)
	waitSame(t, c.nodes, 10*time.Second)
}

// TestStartingNodeIsNotReadyUntilCaughtUp: a node that restarts with
// entries in its log its store does not hold says so, and is ready only
// once it has applied them.
func TestStartingNodeIsNotReadyUntilCaughtUp(t *testing.T) {
	c := newCluster(t, 1, nil)
	nd := c.leader(t, 10*time.Second)
	for i := 0; i < 20; i++ {
		if err := put(bg, nd, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var old bytes.Buffer
	if _, err := nd.local.WriteTo(&old); err != nil {
		t.Fatal(err)
	}
	for i := 20; i < 40; i++ {
		if err := put(bg, nd, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "ready", func() bool { ok, _ := nd.rs.Ready(); return ok })
	c.kill(nd)
	// The store as a crash between the log's fsync and the store's would
	// leave it: the log holds twenty entries the store has not.
	if err := os.WriteFile(filepath.Join(nd.dir, "store.db"), old.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c.revive(nd, 1, nil)
	if ok, why := nd.rs.Ready(); ok || !strings.HasPrefix(why, "starting: replaying") {
		t.Fatalf("ready = %v (%q) with twenty entries to replay", ok, why)
	}
	waitFor(t, 10*time.Second, "ready after the replay", func() bool { ok, _ := nd.rs.Ready(); return ok })
	if !has(nd, "tpa1/39") {
		t.Fatalf("ready before the replay: applied %d of %d", nd.rs.AppliedIndex(), nd.rs.Raft().LastIndex())
	}
}

// TestUnreadableEntryStopsTheNode gives one follower a key that cannot
// open the cluster's sealed entries, as a node that cannot read what the
// others write: it stops applying on the first such entry, says why,
// takes no snapshot and never passes the entry, while the others go on.
func TestUnreadableEntryStopsTheNode(t *testing.T) {
	key := func() *secrets.Keyring {
		k, _ := secrets.NewKey()
		kr, err := secrets.New(k)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	good, wrong := key(), key()
	var odd *node
	c := newCluster(t, 3, func(cfg *Config, d *Deps) {
		d.Sealer = good
		if cfg.Node == "tpa1-3" {
			d.Sealer = wrong
		}
	})
	for _, nd := range c.nodes {
		if nd.name == "tpa1-3" {
			odd = nd
		}
	}
	for {
		leader := c.leader(t, 10*time.Second)
		if leader != odd {
			break
		}
		leader.rs.Raft().LeadershipTransfer().Error()
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	writer := c.nodes[0]
	for i := 0; i < 10; i++ {
		if err := put(ctx, writer, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the odd node stalls", func() bool { return odd.rs.Stalled() != nil })
	if err := odd.rs.Stalled(); !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "same secrets key") {
		t.Fatalf("stalled with %v", err)
	}
	if has(odd, "tpa1/0") || odd.local.RaftIndex() != odd.rs.AppliedIndex() {
		t.Fatal("the odd node passed an entry it could not read")
	}
	if _, err := odd.rs.fsm.Snapshot(); err == nil {
		t.Fatal("a stalled node took a snapshot")
	}
	if err := put(ctx, odd, "tpa1/odd"); !errors.Is(err, ErrStalled) {
		t.Fatalf("a write through the stalled node: %v", err)
	}
	if _, ok, _ := c.nodes[1].local.Get("extensions", "tpa1/9"); !ok {
		waitFor(t, 5*time.Second, "the others go on", func() bool { return has(c.nodes[1], "tpa1/9") })
	}
}

// TestStoreFailureStallsInsteadOfPanicking closes a node's store under
// Raft: applying fails, the node reports it and retries, and the process
// does not panic.
func TestStoreFailureStallsInsteadOfPanicking(t *testing.T) {
	c := newCluster(t, 1, nil)
	nd := c.leader(t, 10*time.Second)
	if err := put(bg, nd, "tpa1/1"); err != nil {
		t.Fatal(err)
	}
	nd.local.Close()
	f := nd.rs.Raft().Apply(store.AppendOps(nil, []store.Op{{Kind: store.OpWrite, Author: "t", Muts: []store.Mutation{{Table: "extensions", Key: "tpa1/2", Value: []byte{1}}}}}), time.Second)
	waitFor(t, 5*time.Second, "the node stalls", func() bool { return nd.rs.Stalled() != nil })
	if err := nd.rs.Stalled(); !strings.Contains(err.Error(), "could not apply") {
		t.Fatalf("stalled with %v", err)
	}
	_ = f
}
