package replicator_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// An extension move (create the new key, delete the old, one write)
// travels as one transaction: a peer never holds the number on neither
// key, nor on both, at any step of the replication.
func TestMoveIsAtomicAtPeers(t *testing.T) {
	s := newSim(t, 2, replicator.Mesh)
	keys := [2]string{"tpa1/6109", "sfo/6109"}
	write(t, s, 0, keys[0], "Ana")
	converge(t, s, 10*time.Second)
	live := func(i int, key string) bool { r := read(t, s, i, key); return r != nil && r.Exists() }
	for m := 0; m < 10; m++ {
		from, to := keys[m%2], keys[(m+1)%2]
		var dot store.Dot
		s.Node(0).View(func(sn *store.Snapshot) error {
			r, _ := sn.Get("extensions", from)
			dot = r.Winner().Dot
			return nil
		})
		if _, err := s.Node(0).Write(bg, "alice (moved "+from+" to "+to+")", []store.Mutation{
			{Table: "extensions", Key: to, Value: pbx.Fields{"name": "Ana"}.AppendBinary(nil), Must: store.MustNotExist},
			{Table: "extensions", Key: from, IfMatch: []store.Dot{dot}, Must: store.MustExist},
		}); err != nil {
			t.Fatal(err)
		}
		for step := 0; step < 200; step++ {
			s.RunFor(5 * time.Millisecond)
			a, b := live(1, from), live(1, to)
			if a == b {
				t.Fatalf("move %d step %d: the peer holds %s=%v %s=%v", m, step, from, a, to, b)
			}
			if b {
				break
			}
		}
		if !live(1, to) {
			t.Fatalf("move %d did not reach the peer", m)
		}
	}
	converge(t, s, 10*time.Second)
}

// A field a newer agent added (a dictionary code this one lacks) crosses
// the ring byte for byte.
func TestUnknownFieldsReplicateVerbatim(t *testing.T) {
	s := newSim(t, 3, replicator.Ring)
	raw := pbx.Fields{"name": "Ana", "#250": "newer"}.AppendBinary(nil)
	if _, err := s.Node(0).Write(bg, "newer-agent", []store.Mutation{{Table: "extensions", Key: "tpa1/6109", Value: raw}}); err != nil {
		t.Fatal(err)
	}
	converge(t, s, 10*time.Second)
	for i := 1; i < 3; i++ {
		if r := read(t, s, i, "tpa1/6109"); r == nil || !bytes.Equal(r.Winner().Value, raw) {
			t.Fatalf("node %d holds %v", i, r)
		}
	}
}
