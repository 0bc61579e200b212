package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
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

func TestWriteToAndRestore(t *testing.T) {
	a := newTestStore(t, "tpa1")
	put(t, a, "k1", "v", "1")
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	put(t, a, "k2", "v", "2")
	b := newTestStore(t, "tpa1")
	put(t, b, "only-here", "v", "x")
	if err := b.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get("extensions", "only-here"); ok {
		t.Fatal("restore kept the old contents")
	}
	if _, ok, _ := b.Get("extensions", "k1"); !ok || b.Incarnation() != a.Incarnation() {
		t.Fatal("restore did not take the snapshot's contents and identity")
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	a.WriteTo(&buf)
	if err := b.Restore(&buf); err != nil { // again: the store stays usable across swaps
		t.Fatal(err)
	}
	sameDigests(t, a, b)
	c := newTestStore(t, "sfo")
	if err := c.Restore(bytes.NewReader(buf.Bytes())); err == nil {
		t.Fatal("a snapshot of another cluster was restored")
	}
	if _, err := a.WriteTo(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
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
	got, err := DecodeOps(AppendOps(nil, ops))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", ops) {
		t.Fatalf("round trip:\n%+v\n%+v", got, ops)
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
