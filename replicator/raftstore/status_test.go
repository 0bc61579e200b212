package raftstore

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// Status written on any node and status merged from another cluster reach
// every node of the cluster with the same stamps and sequence numbers, so
// a new leader serves peers from where the old one stopped.
func TestStatusThroughRaftIsTheSameOnEveryNode(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.leader(t, 10*time.Second)
	for _, nd := range c.nodes {
		if err := nd.rs.PutStatus(bg, map[string][]byte{"health/tpa1/" + nd.name: []byte("up")}); err != nil {
			t.Fatalf("status at %s: %v", nd.name, err)
		}
	}
	follower := c.nodes[0]
	if follower == leader {
		follower = c.nodes[1]
	}
	in := []store.StatusEntry{{Key: "ext/sfo/7000/sfo1", Value: []byte("registered"), Clock: 5},
		{Key: "ext/tpa1/5020/tpa1-1", Value: []byte("forged"), Clock: 1 << 60}}
	if n, err := follower.rs.MergeStatus(bg, in); err != nil || n != 1 {
		t.Fatalf("merge through a follower: %d, %v (own keys must be skipped)", n, err)
	}
	if _, err := follower.rs.MergeStatus(bg, []store.StatusEntry{{Key: ""}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad entry: %v", err)
	}
	page := func(nd *node) *store.StatusPage {
		p, err := nd.local.StatusSince(0, nil, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		want, same := page(c.nodes[0]), true
		for _, nd := range c.nodes[1:] {
			same = same && reflect.DeepEqual(page(nd), want)
		}
		if same && len(want.Entries) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes differ or miss entries: %+v", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, nd := range c.nodes {
		if err := nd.local.Check(); err != nil {
			t.Fatalf("%s: %v", nd.name, err)
		}
	}
}
