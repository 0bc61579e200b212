package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func statusOf(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.View(func(sn *Snapshot) error {
		return sn.Status("", func(k string, v []byte) error { out[k] = string(v); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func since(t *testing.T, s *Store, after uint64) *StatusPage {
	t.Helper()
	p, err := s.StatusSince(after, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func putStatus(t *testing.T, s *Store, kv ...string) {
	t.Helper()
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	if err := s.PutStatus(bg, m); err != nil {
		t.Fatal(err)
	}
}

func keysOf(p *StatusPage) []string {
	var out []string
	for _, e := range p.Entries {
		out = append(out, e.Key)
	}
	return out
}

func TestStatusSinceCoalescesAndShipsRemovals(t *testing.T) {
	s := newTestStore(t, "tpa1")
	putStatus(t, s, "ext/tpa1/5020/ast1", "registered", "ext/tpa1/5021/ast1", "unregistered", "local", "not shipped")
	p := since(t, s, 0)
	if got := keysOf(p); !reflect.DeepEqual(got, []string{"ext/tpa1/5020/ast1", "ext/tpa1/5021/ast1"}) {
		t.Fatalf("since 0: %v (a key without an owner must not ship)", got)
	}
	if p.Head != 3 || p.Next != 3 || p.More || p.Epoch != s.Incarnation() {
		t.Fatalf("page %+v", p)
	}
	first := p.Entries[0].Clock
	if first == 0 || p.Entries[1].Clock != first {
		t.Fatalf("one write, one clock: %v", p.Entries)
	}
	// A phone that flaps 100 times ships once, with its last value.
	head := p.Head
	for i := 0; i < 100; i++ {
		putStatus(t, s, "ext/tpa1/5021/ast1", fmt.Sprintf("state %d", i))
	}
	p = since(t, s, head)
	if len(p.Entries) != 1 || string(p.Entries[0].Value) != "state 99" || p.Entries[0].Clock <= first {
		t.Fatalf("after 100 writes: %+v", p.Entries)
	}
	if p.Head != head+100 {
		t.Fatalf("head %d, want %d", p.Head, head+100)
	}
	// A removal ships as an entry without a value; readers no longer see it.
	head = p.Head
	if err := s.PutStatus(bg, map[string][]byte{"ext/tpa1/5020/ast1": nil, "ext/tpa1/never/ast1": nil}); err != nil {
		t.Fatal(err)
	}
	p = since(t, s, head)
	if len(p.Entries) != 1 || p.Entries[0].Key != "ext/tpa1/5020/ast1" || p.Entries[0].Value != nil {
		t.Fatalf("removal: %+v (removing a key that never was ships nothing)", p.Entries)
	}
	if _, ok := statusOf(t, s)["ext/tpa1/5020/ast1"]; ok {
		t.Fatal("removed entry still read")
	}
	// Removing it again changes nothing.
	s.PutStatus(bg, map[string][]byte{"ext/tpa1/5020/ast1": nil})
	if p2 := since(t, s, p.Head); len(p2.Entries) != 0 {
		t.Fatalf("a second removal shipped %+v", p2.Entries)
	}
	// Pages are bounded and resume where they stopped.
	all := since(t, s, 0)
	small, err := s.StatusSince(0, nil, 1)
	if err != nil || len(small.Entries) != 1 || !small.More {
		t.Fatalf("bounded page: %+v %v", small, err)
	}
	rest := since(t, s, small.Next)
	if got := append(keysOf(small), keysOf(rest)...); !reflect.DeepEqual(got, keysOf(all)) {
		t.Fatalf("pages %v, whole %v", got, keysOf(all))
	}
	// A watermark from another life of the store starts again from 0.
	if p := since(t, s, 1_000_000); !reflect.DeepEqual(keysOf(p), keysOf(all)) {
		t.Fatalf("after beyond head: %v", keysOf(p))
	}
	// The filter: only the owners asked for.
	putStatus(t, s, "ext/sfo/7000/sfo1", "x")
	p, _ = s.StatusSince(0, func(o string) bool { return o == "sfo" }, 1<<20)
	if got := keysOf(p); !reflect.DeepEqual(got, []string{"ext/sfo/7000/sfo1"}) || p.Next != p.Head {
		t.Fatalf("filtered: %v, next %d head %d", got, p.Next, p.Head)
	}
}

func TestStatusClockSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	future := time.Now().Add(time.Hour)
	cfg := DefaultConfig(path)
	cfg.Replica = "tpa1"
	cfg.Now = func() time.Time { return future }
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	putStatus(t, s, "health/tpa1/ast1", "up")
	before := since(t, s, 0).Entries[0].Clock
	s.Close()
	cfg.Now = nil // the wall clock went back an hour
	s, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	putStatus(t, s, "health/tpa1/ast1", "down")
	if after := since(t, s, 0).Entries[0].Clock; after <= before {
		t.Fatalf("clock went back: %v then %v", before, after)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestMergeStatusNewerWinsNeverOwnNeverConflicts(t *testing.T) {
	tpa := newTestStore(t, "tpa1")
	sfo := newTestStore(t, "sfo")
	put(t, sfo, "sfo/7000", "name", "config")
	digests := func(s *Store) (map[string]Digest, Summary) {
		var d map[string]Digest
		var sum Summary
		s.View(func(sn *Snapshot) error { d, _ = sn.Digests(); sum, _ = sn.Summary(); return nil })
		return d, sum
	}
	d0, s0 := digests(sfo)
	putStatus(t, tpa, "ext/tpa1/5020/ast1", "registered", "health/tpa1/ast1", "up")
	p := since(t, tpa, 0)
	n, err := sfo.MergeStatus(bg, p.Entries)
	if err != nil || n != 2 {
		t.Fatalf("merged %d, %v", n, err)
	}
	if got := statusOf(t, sfo); got["ext/tpa1/5020/ast1"] != "registered" || got["health/tpa1/ast1"] != "up" {
		t.Fatalf("sfo holds %v", got)
	}
	// Duplicates and late old values change nothing.
	if n, _ := sfo.MergeStatus(bg, p.Entries); n != 0 {
		t.Fatalf("a duplicate merged %d", n)
	}
	old := p.Entries[0]
	putStatus(t, tpa, "ext/tpa1/5020/ast1", "unreachable")
	newer := since(t, tpa, p.Head).Entries
	if n, _ := sfo.MergeStatus(bg, newer); n != 1 {
		t.Fatal("the newer value was not merged")
	}
	if n, _ := sfo.MergeStatus(bg, []StatusEntry{old}); n != 0 || statusOf(t, sfo)["ext/tpa1/5020/ast1"] != "unreachable" {
		t.Fatal("an older value replaced a newer one")
	}
	// A cluster is the only writer of its own keys; keys without an owner
	// stay where they were written.
	putStatus(t, sfo, "ext/sfo/7000/sfo1", "registered")
	forged := []StatusEntry{{Key: "ext/sfo/7000/sfo1", Value: []byte("forged"), Clock: HLC(1) << 62}, {Key: "local", Value: []byte("x"), Clock: 1}}
	if n, _ := sfo.MergeStatus(bg, forged); n != 0 || statusOf(t, sfo)["ext/sfo/7000/sfo1"] != "registered" || statusOf(t, sfo)["local"] != "" {
		t.Fatalf("own or ownerless entries were merged: %v", statusOf(t, sfo))
	}
	// Removals travel; a removal of an unknown key is kept as a marker, so
	// an older value arriving later does not come back.
	putStatus(t, tpa, "ext/tpa1/5021/ast1", "registered")
	early := since(t, tpa, 0)
	tpa.PutStatus(bg, map[string][]byte{"ext/tpa1/5020/ast1": nil, "ext/tpa1/5021/ast1": nil})
	removals := since(t, tpa, early.Head).Entries
	if len(removals) != 2 {
		t.Fatalf("removals %+v", removals)
	}
	fresh := newTestStore(t, "nyc")
	if n, _ := fresh.MergeStatus(bg, removals); n != 2 {
		t.Fatal("removal markers not kept")
	}
	if n, _ := fresh.MergeStatus(bg, early.Entries); n != 1 || len(statusOf(t, fresh)) != 1 { // health only
		t.Fatalf("old values came back after their removal: %v", statusOf(t, fresh))
	}
	if n, _ := sfo.MergeStatus(bg, removals); n != 2 { // 5021 never reached sfo: its marker is new there
		t.Fatalf("sfo merged %d removals", n)
	}
	if _, ok := statusOf(t, sfo)["ext/tpa1/5020/ast1"]; ok {
		t.Fatal("the removal did not reach sfo")
	}
	// Status never touches records: no conflict, same digests and summary.
	if c := sfo.Stats().Conflicts; c != 0 {
		t.Fatalf("%d conflicts", c)
	}
	if d1, s1 := digests(sfo); !reflect.DeepEqual(d0, d1) || !s0.Equal(s1) {
		t.Fatal("status changed sfo's digests or summary")
	}
	// Bad input is refused whole.
	before := since(t, sfo, 0)
	bad := []StatusEntry{{Key: "ext/nyc/1/n1", Value: []byte("ok"), Clock: 5}, {Key: "", Value: []byte("x")}}
	if _, err := sfo.MergeStatus(bg, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad batch: %v", err)
	}
	if after := since(t, sfo, 0); after.Head != before.Head {
		t.Fatal("a refused batch changed something")
	}
}

// In a ring a cluster forwards what it merged from others, with their
// clocks, and gets its own entries back, which it ignores.
func TestStatusForwardedAroundARing(t *testing.T) {
	a, b, c := newTestStore(t, "a"), newTestStore(t, "b"), newTestStore(t, "c")
	putStatus(t, a, "ext/a/1/a1", "registered")
	hop := func(from, to *Store) int {
		n, err := to.MergeStatus(bg, since(t, from, 0).Entries)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if hop(a, b) != 1 || hop(b, c) != 1 || hop(c, a) != 0 {
		t.Fatal("ring forwarding")
	}
	if ca, cc := since(t, a, 0).Entries[0].Clock, since(t, c, 0).Entries[0].Clock; ca != cc {
		t.Fatalf("clock changed on the way: %v / %v", ca, cc)
	}
	if statusOf(t, c)["ext/a/1/a1"] != "registered" {
		t.Fatal("c lacks a's entry")
	}
}

// Entries written before status was stamped ship after the first stamped
// write.
func TestStatusStampsOlderEntries(t *testing.T) {
	s := newTestStore(t, "tpa1")
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bStatus).Put([]byte("ext/tpa1/1/n"), []byte("old")) })
	if err != nil {
		t.Fatal(err)
	}
	if p := since(t, s, 0); len(p.Entries) != 0 {
		t.Fatalf("unstamped entries listed: %+v", p)
	}
	putStatus(t, s, "ext/tpa1/2/n", "new")
	p := since(t, s, 0)
	if got := keysOf(p); !reflect.DeepEqual(got, []string{"ext/tpa1/1/n", "ext/tpa1/2/n"}) || p.Entries[0].Clock != 0 {
		t.Fatalf("after the first stamped write: %+v", p.Entries)
	}
}

// Two nodes applying the same status ops end with the same stamps and
// numbers, whatever the map order; ops of older versions still apply.
func TestStatusOpsDeterministicAndCodec(t *testing.T) {
	hlc := hlcFromTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	entries := [][]Op{
		{{Kind: OpStatus, Status: map[string][]byte{"ext/tpa1/1/n1": []byte("a"), "ext/tpa1/2/n1": []byte("b")}}},
		{{Kind: OpStatusAt, HLC: hlc, Status: map[string][]byte{"ext/tpa1/1/n1": []byte("c"), "ext/tpa1/3/n1": []byte("d"), "ext/tpa1/2/n1": nil}}},
		{{Kind: OpStatusIn, StatusEntries: []StatusEntry{{Key: "ext/sfo/1/s1", Value: []byte("x"), Clock: 9}, {Key: "ext/tpa1/1/n1", Value: []byte("forged"), Clock: hlc * 2}, {Key: "ext/sfo/2/s1", Clock: 4}}},
			{Kind: OpStatusIn, StatusEntries: []StatusEntry{{Key: "", Value: []byte("bad")}}}},
	}
	var pages []*StatusPage
	for range 2 {
		s := newTestStore(t, "tpa1", func(c *Config) { c.Incarnation = 42 })
		for i, ops := range entries {
			res, err := s.ApplyOps(bg, uint64(i+1), ops)
			if err != nil {
				t.Fatal(err)
			}
			if i == 2 && (res[0].N != 2 || !errors.Is(res[1].Err, ErrInvalid)) {
				t.Fatalf("merge results %+v", res)
			}
		}
		pages = append(pages, since(t, s, 0))
		if got := statusOf(t, s); got["ext/tpa1/1/n1"] != "c" || got["ext/sfo/1/s1"] != "x" || len(got) != 3 {
			t.Fatalf("status %v", got)
		}
	}
	if !reflect.DeepEqual(pages[0], pages[1]) {
		t.Fatalf("nodes differ:\n%+v\n%+v", pages[0], pages[1])
	}
	for _, e := range pages[0].Entries {
		if e.Key == "ext/tpa1/3/n1" && e.Clock != hlc {
			t.Fatalf("proposed time not used: %v", e.Clock)
		}
	}
	ops := []Op{{Kind: OpStatusAt, HLC: 7, Status: map[string][]byte{"k": []byte("v")}},
		{Kind: OpStatusIn, StatusEntries: []StatusEntry{{Key: "a/b", Value: []byte("v"), Clock: 3}, {Key: "a/c", Clock: 4}}}}
	got, err := DecodeOps(AppendOps(nil, ops))
	if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", ops) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
}

func FuzzDecodeStatusEntries(f *testing.F) {
	f.Add(AppendStatusEntries(nil, []StatusEntry{{Key: "ext/a/1/n", Value: []byte("v"), Clock: 3}, {Key: "ext/a/2/n", Clock: 1 << 40}}))
	f.Add(AppendOps(nil, []Op{{Kind: OpStatusAt, HLC: 1, Status: map[string][]byte{"k": []byte("v")}}}))
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := DecodeStatusEntries(b); err == nil {
			again, err := DecodeStatusEntries(AppendStatusEntries(nil, e))
			if err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("re-encoding %+v: %+v %v", e, again, err)
			}
		}
		if ops, err := DecodeOps(b); err == nil {
			if _, err := DecodeOps(AppendOps(nil, ops)); err != nil {
				t.Fatalf("re-encoding %+v: %v", ops, err)
			}
		}
	})
}
