package replicator_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestMixedVersionsInOneRing runs a ring a → b → c → a over real HTTP
// where b is an agent of protocol 1 (it neither sends the version header
// nor answers in version 2) and a and c speak version 2: every link
// speaks the newest version both of its ends know, everything converges,
// and a field that no version of the model knows is carried unchanged,
// byte for byte, through the old agent.
func TestMixedVersionsInOneRing(t *testing.T) {
	n := newNet(t, replicator.Ring, time.Hour, nil, func(name string, rc *replicator.Config) {
		rc.PullWait, rc.RetryMin, rc.RetryMax = 200*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond
		if name == "b" {
			rc.MaxProtocol = 1
		}
	}, "a", "b", "c")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, 3)
	for _, r := range n.reps {
		go func() { r.Run(ctx); done <- struct{}{} }()
	}
	defer func() {
		cancel()
		for range n.reps {
			<-done
		}
	}()
	// A record from a newer model: "x_future" is no field of this one.
	value := pbx.Fields{"name": "tpa", "x_future": "kept as it is"}.AppendBinary(nil)
	if _, err := n.stores[0].Write(ctx, "t", []store.Mutation{{Table: "sites", Key: "tpa", Value: value}}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.stores[2].Write(ctx, "t", []store.Mutation{{Table: "sites", Key: "sfo", Value: pbx.Fields{"name": "sfo"}.AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !n.reps[0].Status()[0].Connected || !equalSummaries(n.stores) {
		if time.Now().After(deadline) {
			t.Fatalf("no convergence: %v / %v / %v", n.stores[0].Summary(), n.stores[1].Summary(), n.stores[2].Summary())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, st := range n.stores {
		var got []byte
		st.View(func(sn *store.Snapshot) error {
			r, err := sn.Get("sites", "tpa")
			if err == nil && r != nil {
				got = r.Winner().Value
			}
			return err
		})
		if !bytes.Equal(got, value) {
			t.Fatalf("%s holds %q, want the bytes written at a", n.names[i], got)
		}
	}
	// Each puller's link: b pulls from a in 1 (b is old); c pulls from
	// the old b in 1 (b answers 1); a pulls from c in the newest version.
	want := map[string]uint16{"b": 1, "c": 1, "a": replicator.ProtocolVersion}
	for i, r := range n.reps {
		for _, l := range r.Status() {
			if l.Protocol != want[n.names[i]] {
				t.Errorf("%s's link to %s speaks protocol %d, want %d", n.names[i], l.Peer, l.Protocol, want[n.names[i]])
			}
		}
	}
}

func equalSummaries(sts []*store.Store) bool {
	for _, st := range sts[1:] {
		if !st.Summary().Equal(sts[0].Summary()) {
			return false
		}
	}
	return true
}

// TestOlderProtocolsGetWholeRecords: a change's field list and a record's
// change graph travel only to a peer of protocol 3; an older one gets the
// whole value (which it always merged whole) and records of the first
// format, which it reads.
func TestOlderProtocolsGetWholeRecords(t *testing.T) {
	c := &store.Change{Dot: store.Dot{Stream: "tpa1.0000000000000001", Seq: 2}, TxSeq: 2, TxSize: 1, Table: "extensions", Key: "tpa1/6105",
		Value: pbx.Fields{"name": "Ken"}.AppendBinary(nil), Context: []store.Dot{{Stream: "tpa1.0000000000000001", Seq: 1}}, HLC: 2, Set: []string{"name"}}
	for v, wantSet := range map[uint16]bool{1: false, 2: false, 3: true} {
		resp, err := replicator.DecodePullResponse(bytes.NewReader(replicator.EncodePullResponse(&replicator.PullResponse{From: "tpa1", Changes: []*store.Change{c}, Version: v})), 1<<20)
		if err != nil || (resp.Changes[0].Set != nil) != wantSet || !bytes.Equal(resp.Changes[0].Value, c.Value) {
			t.Fatalf("protocol %d: %+v %v", v, resp, err)
		}
	}
	rec := &store.Record{Table: "extensions", Key: "tpa1/6105", Versions: []store.Version{{Dot: c.Dot, HLC: 2, Value: c.Value}},
		Graph: []store.Node{{Dot: c.Dot, Context: c.Context, Set: c.Set, HLC: 2}}}
	for v, wantGraph := range map[uint16]bool{2: false, 3: true} {
		p, err := replicator.DecodeSnapshotPage(bytes.NewReader(replicator.EncodeSnapshotPage(&store.SnapshotPage{Records: []*store.Record{rec}}, v)), 1<<20)
		if err != nil || (len(p.Records[0].Graph) > 0) != wantGraph {
			t.Fatalf("snapshot at protocol %d: %+v %v", v, p, err)
		}
	}
}
