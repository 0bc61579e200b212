package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// Two nodes of one cluster applying the same Raft entries must end in the
// same state: same dots, same digests, same log.
func TestApplyOpsIsDeterministic(t *testing.T) {
	mk := func(name string) *Store {
		return newTestStore(t, "tpa1", func(c *Config) { c.Incarnation = 42; c.Site = "tpa" })
	}
	a, b := mk("a"), mk("b")
	other := newTestStore(t, "sfo")
	put(t, other, "sfo/1", "name", "from sfo")
	remote, _ := other.ChangesSince(Summary{}, func(Stream) bool { return true }, 1<<20)
	hlc := hlcFromTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	entries := [][]Op{
		{{Kind: OpWrite, Author: "x", HLC: hlc, Muts: []Mutation{{Table: "extensions", Key: "tpa1/1", Value: val("n", "1")}}, Scopes: []string{""}}},
		{{Kind: OpWrite, Author: "x", HLC: hlc, Muts: []Mutation{{Table: "extensions", Key: "tpa1/1", Value: val("n", "again"), Must: MustNotExist}}, Scopes: []string{""}},
			{Kind: OpApply, Changes: remote.Changes},
			{Kind: OpWrite, Author: "x", HLC: hlc, Muts: []Mutation{{Table: "hotdesks", Key: "tpa1/5811", Value: val("n", "hd")}}, Scopes: []string{"tpa"}}},
		{{Kind: OpStatus, Status: map[string][]byte{"ext/tpa1/1": []byte("registered")}}},
	}
	for _, s := range []*Store{a, b} {
		for i, ops := range entries {
			res, err := s.ApplyOps(bg, uint64(i+1), ops)
			if err != nil {
				t.Fatal(err)
			}
			if i == 1 && !errors.Is(res[0].Err, ErrExists) {
				t.Fatalf("a refused op must fail alone: %+v", res)
			}
			if i == 1 && res[1].Apply.Applied != 1 {
				t.Fatalf("the op after a refused one must still apply: %+v", res[1])
			}
		}
		// A replay after a restart changes nothing.
		if _, err := s.ApplyOps(bg, 2, entries[1]); err != nil {
			t.Fatal(err)
		}
		if got := s.RaftIndex(); got != 3 {
			t.Fatalf("raft index = %d", got)
		}
	}
	sameDigests(t, a, b)
	if fmt.Sprint(a.Summary()) != fmt.Sprint(b.Summary()) || a.Stats().LSN != b.Stats().LSN {
		t.Fatalf("summaries differ: %v / %v", a.Summary(), b.Summary())
	}
	var hd Dot
	a.View(func(sn *Snapshot) error { r, _ := sn.Get("hotdesks", "tpa1/5811"); hd = r.Winner().Dot; return nil })
	if hd.Stream.Scope() != "tpa" {
		t.Fatalf("site-only write went to stream %s", hd.Stream)
	}
}

// TestWriteToAndRestore installs copies the way a Raft follower does:
// a newer copy replaces the store, an older or equal one is dropped (a
// store never goes back in time), and a new node takes the cluster's
// first snapshot even at index 0 (a store seeded before Raft).
func TestWriteToAndRestore(t *testing.T) {
	at := func(s *Store, index uint64, key string) {
		t.Helper()
		if _, err := s.ApplyOps(bg, index, []Op{{Kind: OpWrite, Author: "t", HLC: HLC(index), Muts: []Mutation{{Table: "extensions", Key: key, Value: val("v", key)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	copyOf := func(s *Store) []byte {
		var buf bytes.Buffer
		if _, err := s.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	restore := func(s *Store, img []byte, want bool) {
		t.Helper()
		got, err := s.Restore(bytes.NewReader(img))
		if err != nil || got != want {
			t.Fatalf("restore = %v, %v; want %v", got, err, want)
		}
		if err := s.Check(); err != nil {
			t.Fatal(err)
		}
	}
	a := newTestStore(t, "tpa1")
	at(a, 1, "k1")
	first := copyOf(a)
	at(a, 2, "k2")
	second := copyOf(a)

	b := newTestStore(t, "tpa1")
	restore(b, first, true) // a new node
	if _, ok, _ := b.Get("extensions", "k1"); !ok || b.Incarnation() != a.Incarnation() || b.RaftIndex() != 1 {
		t.Fatal("restore did not take the snapshot's contents and identity")
	}
	restore(b, second, true) // newer
	sameDigests(t, a, b)
	restore(b, first, false) // older: kept as it is
	if _, ok, _ := b.Get("extensions", "k2"); !ok || b.RaftIndex() != 2 {
		t.Fatal("an older copy rewound the store")
	}
	restore(b, second, false) // equal

	seeded := newTestStore(t, "tpa1")
	put(t, seeded, "offline", "v", "x")
	restore(seeded, copyOf(newTestStore(t, "tpa1")), false)
	if _, ok, _ := seeded.Get("extensions", "offline"); !ok {
		t.Fatal("an empty copy replaced a seeded store")
	}
	c := newTestStore(t, "sfo")
	if _, err := c.Restore(bytes.NewReader(second)); err == nil {
		t.Fatal("a snapshot of another cluster was restored")
	}
}

func TestOpsCodecRoundTrip(t *testing.T) {
	ops := []Op{
		{Kind: OpWrite, Author: "a", HLC: 7, Muts: []Mutation{{Table: "extensions", Key: "k", Value: val("a", "b"), IfMatch: []Dot{{"tpa1.0000000000000001", 3}}, Must: MustExist},
			{Table: "extensions", Key: "d", SupersedeAll: true}}, Scopes: []string{"", "tpa"}, Local: map[string][]byte{"x": []byte("y")}},
		{Kind: OpStatus, Status: map[string][]byte{"s": []byte("1")}},
		{Kind: OpRevert, Author: "r", HLC: 9, Revert: Dot{"tpa1.0000000000000001", 2}},
		{Kind: OpPurge, Horizon: Summary{"tpa1.0000000000000001": 2}, Ceiling: Summary{"tpa1.0000000000000001": 3}},
		{Kind: OpIdentity, Incarnation: 99},
	}
	enc := AppendOps(nil, ops)
	if enc[0] != opsFormat1 {
		t.Fatalf("entry without patches in format %d: a node of the previous release could not read it", enc[0])
	}
	got, err := DecodeOps(enc)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", ops) {
		t.Fatalf("round trip:\n%+v\n%+v", got, ops)
	}

	patched := []Op{{Kind: OpWrite, Author: "a", HLC: 8, Scopes: []string{""}, Muts: []Mutation{{Table: "extensions", Key: "k",
		Patch: pbx.Fields{"name": "x", "mailbox": ""}, Resolve: []string{"name"}, SupersedeAll: true,
		IfMatch: []Dot{{"lon.0000000000000002", 4}, {"tpa1.0000000000000001", 3}}}}}}
	enc = AppendOps(nil, patched)
	if enc[0] != opsFormat2 {
		t.Fatalf("entry with a patch in format %d, want 2", enc[0])
	}
	if got, err = DecodeOps(enc); err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", patched) {
		t.Fatalf("round trip of a patch: %v\n%+v\n%+v", err, got, patched)
	}
	enc[0] = opsFormatMax + 1
	if _, err := DecodeOps(enc); err == nil || !strings.Contains(err.Error(), "upgrade this node") {
		t.Fatalf("an entry of a newer format: %v", err)
	}
}

func FuzzDecodeOps(f *testing.F) {
	f.Add(AppendOps(nil, []Op{{Kind: OpWrite, Author: "a", Muts: []Mutation{{Table: "t", Key: "k", Value: []byte{1}}}, Scopes: []string{""}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := DecodeOps(b)
		if err != nil {
			return
		}
		if _, err := DecodeOps(AppendOps(nil, ops)); err != nil {
			t.Fatalf("re-encoding %+v: %v", ops, err)
		}
	})
}

// TestApplyOpsBatchingDoesNotChangeTheOutcome: a Raft follower catching up
// applies many entries in one transaction, the leader one at a time. An
// Apply entry that carries an echo of the cluster's own change made by an
// earlier entry of the same batch was refused as forged ("self origin"),
// leaving the follower without the other cluster's change at the same
// applied index (found by the live chaos campaigns).
func TestApplyOpsBatchingDoesNotChangeTheOutcome(t *testing.T) {
	mk := func() *Store { return newTestStore(t, "c0", func(c *Config) { c.Incarnation = 7 }) }
	write := []Op{{Kind: OpWrite, Author: "alice", HLC: 5, Scopes: []string{""}, Muts: []Mutation{{Table: "extensions", Key: "c0/6101", Value: val("name", "alice")}}}}
	scratch := mk()
	if _, err := scratch.ApplyOps(bg, 1, write); err != nil {
		t.Fatal(err)
	}
	c1 := newTestStore(t, "c1")
	put(t, c1, "c1/6102", "name", "bob")
	all := func(Stream) bool { return true }
	own, _ := scratch.ChangesSince(Summary{}, all, 1<<20)
	theirs, _ := c1.ChangesSince(Summary{}, all, 1<<20)
	apply := []Op{{Kind: OpApply, Changes: append(own.Changes, theirs.Changes...)}}

	leader, follower := mk(), mk()
	leader.ApplyOps(bg, 1, write)
	leader.ApplyOps(bg, 2, apply)
	res, err := follower.ApplyOps(bg, 2, append(append([]Op{}, write...), apply...))
	if err != nil || res[1].Err != nil {
		t.Fatalf("the batched apply: %v %v", err, res[1].Err)
	}
	if !leader.Summary().Equal(follower.Summary()) {
		t.Fatalf("one at a time %v, batched %v", leader.Summary(), follower.Summary())
	}
}
