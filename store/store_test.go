package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
)

var bg = context.Background()

// newTestStore opens a store in a temp dir; on cleanup it checks every
// invariant and closes it.
func newTestStore(t testing.TB, replica string, opts ...func(*Config)) *Store {
	t.Helper()
	cfg := DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
	cfg.Replica = replica
	for _, o := range opts {
		o(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("store %s inconsistent: %v", replica, err)
		}
		s.Close()
	})
	return s
}

func val(kv ...string) []byte {
	f := pbx.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	return f.AppendBinary(nil)
}

func put(t testing.TB, s *Store, key string, kv ...string) Dot {
	t.Helper()
	res, err := s.Write(bg, "test", []Mutation{{Table: "extensions", Key: key, Value: val(kv...)}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Dots[0]
}

func del(t testing.TB, s *Store, key string) Dot {
	t.Helper()
	res, err := s.Write(bg, "test", []Mutation{{Table: "extensions", Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Dots[0]
}

func get(t testing.TB, s *Store, key string) *Record {
	t.Helper()
	var r *Record
	if err := s.View(func(sn *Snapshot) error {
		var err error
		r, err = sn.Get("extensions", key)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// pull brings dst up to date with src the way the replicator does: changes
// since dst's summary, or a snapshot when src pruned what dst needs.
func pull(t testing.TB, dst, src *Store) {
	t.Helper()
	all := func(Stream) bool { return true }
	for i := 0; i < 1000; i++ {
		b, err := src.ChangesSince(dst.Summary(), all, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if b.NeedSnapshot {
			snapshot(t, dst, src)
			continue
		}
		if len(b.Changes) == 0 {
			return
		}
		res, err := dst.Apply(bg, b.Changes)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stopped {
			t.Fatalf("apply from %s stopped at %s", src.Replica(), res.Missing)
		}
	}
	t.Fatal("pull did not finish")
}

func snapshot(t testing.TB, dst, src *Store) {
	t.Helper()
	all := func(string) bool { return true }
	after := ""
	var S Summary
	for {
		p, err := src.ReadSnapshot(all, after, 2048)
		if err != nil {
			t.Fatal(err)
		}
		if S == nil {
			S = p.Summary
		}
		if err := dst.MergeSnapshot(bg, p, S, TableFilter{}); err != nil {
			t.Fatal(err)
		}
		if p.Done {
			return
		}
		after = p.Last
	}
}

func digests(t testing.TB, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	s.View(func(sn *Snapshot) error {
		ds, err := sn.Digests()
		for k, d := range ds {
			out[k] = d.Root
		}
		return err
	})
	return out
}

func sameDigests(t testing.TB, stores ...*Store) {
	t.Helper()
	want := digests(t, stores[0])
	for _, s := range stores[1:] {
		if got := digests(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("digests of %s %v differ from %s %v", s.Replica(), got, stores[0].Replica(), want)
		}
	}
}

func TestMergeVersion(t *testing.T) {
	a1 := Version{Dot: Dot{"a.0000000000000001", 1}, HLC: 10}
	a2 := Version{Dot: Dot{"a.0000000000000001", 2}, HLC: 20}
	b1 := Version{Dot: Dot{"b.0000000000000002", 1}, HLC: 15}
	b2 := Version{Dot: Dot{"b.0000000000000002", 2}, HLC: 20}
	change := func(v Version, ctx ...Dot) *Change {
		return &Change{Dot: v.Dot, HLC: v.HLC, Context: ctx}
	}
	tests := []struct {
		name    string
		have    []Version
		c       *Change
		want    []Version
		outcome Outcome
	}{
		{"create", nil, change(a1), []Version{a1}, Dominates},
		{"supersede", []Version{a1}, change(a2, a1.Dot), []Version{a2}, Dominates},
		{"duplicate", []Version{a2}, change(a2, a1.Dot), []Version{a2}, Duplicate},
		{"concurrent, remote loses", []Version{a2}, change(b1, a1.Dot), []Version{a2, b1}, Concurrent},
		{"concurrent, remote wins", []Version{a1}, change(b1), []Version{b1, a1}, Concurrent},
		{"same hlc: greater stream wins", []Version{a2}, change(b2, a1.Dot), []Version{b2, a2}, Concurrent},
		{"resolve supersedes both", []Version{b2, a2}, change(Version{Dot: Dot{"a.0000000000000001", 3}, HLC: 30}, a2.Dot, b2.Dot),
			[]Version{{Dot: Dot{"a.0000000000000001", 3}, HLC: 30}}, Dominates},
		{"supersede one sibling", []Version{b2, a2}, change(Version{Dot: Dot{"b.0000000000000002", 3}, HLC: 5}, b2.Dot),
			[]Version{a2, {Dot: Dot{"b.0000000000000002", 3}, HLC: 5}}, Concurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, outcome := mergeVersion(tt.have, tt.c)
			if outcome != tt.outcome || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("mergeVersion = %v %v, want %v %v", got, outcome, tt.want, tt.outcome)
			}
		})
	}
}

func TestWriteReadDelete(t *testing.T) {
	s := newTestStore(t, "tpa1")
	d1 := put(t, s, "tpa1/6109", "name", "George Lopez")
	if d1.Seq != 1 || d1.Stream.Cluster() != "tpa1" {
		t.Fatalf("first dot = %v", d1)
	}
	f, ok, err := s.Get("extensions", "tpa1/6109")
	if err != nil || !ok || f["name"] != "George Lopez" {
		t.Fatalf("Get = %v %v %v", f, ok, err)
	}
	// The same value again changes nothing.
	res, err := s.Write(bg, "test", []Mutation{{Table: "extensions", Key: "tpa1/6109", Value: val("name", "George Lopez")}})
	if err != nil || res.Changed != 0 || !res.Dots[0].IsZero() {
		t.Fatalf("unchanged write = %+v %v", res, err)
	}
	d2 := put(t, s, "tpa1/6109", "name", "George Lopez Jr")
	if d2.Seq != 2 {
		t.Fatalf("second dot = %v", d2)
	}
	if _, err := s.Write(bg, "t", []Mutation{{Table: "extensions", Key: "tpa1/6109", Value: val("name", "x"), Must: MustNotExist}}); !errors.Is(err, ErrExists) {
		t.Fatalf("create over existing = %v", err)
	}
	if _, err := s.Write(bg, "t", []Mutation{{Table: "extensions", Key: "tpa1/6109", Value: val("name", "x"), IfMatch: []Dot{d1}}}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("stale If-Match = %v", err)
	}
	del(t, s, "tpa1/6109")
	if _, ok, _ := s.Get("extensions", "tpa1/6109"); ok {
		t.Fatal("deleted record still readable")
	}
	if r := get(t, s, "tpa1/6109"); r == nil || !r.Winner().Deleted {
		t.Fatal("delete left no tombstone")
	}
	if _, err := s.Write(bg, "t", []Mutation{{Table: "extensions", Key: "tpa1/6109"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of deleted = %v", err)
	}
	if _, err := s.Write(bg, "t", []Mutation{{Table: "extensions", Key: "tpa1/6108", Value: val("a", "b"), Must: MustExist}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of missing = %v", err)
	}
}

func TestWriteIsAllOrNothing(t *testing.T) {
	s := newTestStore(t, "tpa1")
	put(t, s, "tpa1/6101", "name", "Leon")
	_, err := s.Write(bg, "t", []Mutation{
		{Table: "extensions", Key: "tpa1/6102", Value: val("name", "Mike")},
		{Table: "extensions", Key: "tpa1/6101", Value: val("name", "again"), Must: MustNotExist},
	})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v", err)
	}
	if _, ok, _ := s.Get("extensions", "tpa1/6102"); ok {
		t.Fatal("half of a failed write is visible")
	}
	if s.Summary()[s.Stream("extensions")] != 1 {
		t.Fatalf("summary moved: %v", s.Summary())
	}
	for _, bad := range [][]Mutation{nil, {{Table: "Bad Table", Key: "k", Value: val("a", "b")}},
		{{Table: "t", Key: "", Value: val("a", "b")}},
		{{Table: "t", Key: "k", Value: val("a", "b")}, {Table: "t", Key: "k"}}} {
		if _, err := s.Write(bg, "t", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Write(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestTransactionNumbering(t *testing.T) {
	s := newTestStore(t, "tpa1", func(c *Config) {
		c.Site = "tpa"
		c.SiteTables = func(t string) bool { return t == "hotdesks" }
	})
	res, err := s.Write(bg, "import", []Mutation{
		{Table: "extensions", Key: "tpa1/1", Value: val("n", "1")},
		{Table: "hotdesks", Key: "tpa1/5811", Value: val("n", "hd")},
		{Table: "extensions", Key: "tpa1/2", Value: val("n", "2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ent, site := res.Dots[0].Stream, res.Dots[1].Stream
	if ent.Scope() != "" || site.Scope() != "tpa" || res.Dots[2] != (Dot{ent, 2}) || res.Dots[1] != (Dot{site, 1}) {
		t.Fatalf("dots = %v", res.Dots)
	}
	b, _ := s.ChangesSince(Summary{}, func(Stream) bool { return true }, 1<<20)
	for _, c := range b.Changes {
		want := uint32(2)
		if c.Table == "hotdesks" {
			want = 1
		}
		if c.TxSize != want || c.TxSeq != 1 {
			t.Errorf("change %s: tx %d/%d", c.Dot, c.TxSeq, c.TxSize)
		}
	}
}

func TestConcurrentWritesConflictAndResolve(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "sfo")
	put(t, a, "sfo/5020", "name", "Harold Fisher")
	pull(t, b, a)
	// Both sides change the record without seeing each other.
	put(t, a, "sfo/5020", "name", "Harold A. Fisher")
	put(t, b, "sfo/5020", "name", "Harry Fisher")
	pull(t, b, a)
	pull(t, a, b)
	ra, rb := get(t, a, "sfo/5020"), get(t, b, "sfo/5020")
	if !ra.Conflict() || !rb.Conflict() {
		t.Fatalf("no conflict: %v / %v", ra.Versions, rb.Versions)
	}
	if ra.Winner().Dot != rb.Winner().Dot || len(ra.Versions) != 2 {
		t.Fatalf("winners differ: %v / %v", ra.Winner().Dot, rb.Winner().Dot)
	}
	sameDigests(t, a, b)
	n := 0
	a.View(func(sn *Snapshot) error { return sn.Conflicts(func(*Record) error { n++; return nil }) })
	if n != 1 {
		t.Fatalf("conflicts listed = %d", n)
	}
	// Resolving at b supersedes both versions and clears the conflict everywhere.
	if _, err := b.Write(bg, "admin", []Mutation{{Table: "extensions", Key: "sfo/5020", Value: val("name", "Harold Fisher"), SupersedeAll: true}}); err != nil {
		t.Fatal(err)
	}
	pull(t, a, b)
	if r := get(t, a, "sfo/5020"); r.Conflict() {
		t.Fatalf("conflict not cleared at a: %v", r.Versions)
	}
	sameDigests(t, a, b)
}

func TestDeleteIsNotResurrected(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "sfo")
	put(t, a, "tpa1/6109", "name", "v1")
	put(t, a, "tpa1/6109", "name", "v2")
	pull(t, b, a)
	del(t, b, "tpa1/6109")
	pull(t, a, b)
	// Replaying the old versions from a's log changes nothing at b.
	old, _ := a.ChangesSince(Summary{}, func(Stream) bool { return true }, 1<<20)
	res, err := b.Apply(bg, old.Changes[:2])
	if err != nil || res.Applied != 0 || res.Duplicates != 2 {
		t.Fatalf("replay = %+v %v", res, err)
	}
	for _, s := range []*Store{a, b} {
		if _, ok, _ := s.Get("extensions", "tpa1/6109"); ok {
			t.Fatalf("%s resurrected a deleted record", s.Replica())
		}
	}
	// Purging the tombstone once everyone saw it keeps it dead.
	for _, s := range []*Store{a, b} {
		horizon := Summary{}
		for st, seq := range a.Summary() {
			horizon[st] = min(seq, b.Summary()[st])
		}
		n, err := s.PurgeTombstones(bg, horizon, horizon)
		if err != nil || n != 1 {
			t.Fatalf("purge at %s = %d %v", s.Replica(), n, err)
		}
	}
	res, err = b.Apply(bg, old.Changes[:2])
	if err != nil || res.Applied != 0 {
		t.Fatalf("replay after purge = %+v %v", res, err)
	}
	if r := get(t, b, "tpa1/6109"); r != nil {
		t.Fatalf("purged record came back: %v", r.Versions)
	}
	sameDigests(t, a, b)
}

func TestApplyIsIdempotentAndCausal(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "sfo")
	c := newTestStore(t, "lon")
	put(t, a, "k", "v", "a1")
	pull(t, b, a)
	put(t, b, "k", "v", "b1") // supersedes a1
	fromA, _ := a.ChangesSince(Summary{}, func(Stream) bool { return true }, 1<<20)
	fromB, _ := b.ChangesSince(Summary{}, func(s Stream) bool { return s.Cluster() == "sfo" }, 1<<20)

	// c hears b's change before a's: it must wait, not invent a conflict.
	res, err := c.Apply(bg, fromB.Changes)
	if err != nil || !res.Stopped || res.Applied != 0 || res.Missing.Stream.Cluster() != "tpa1" {
		t.Fatalf("out of causal order = %+v %v", res, err)
	}
	for i := 0; i < 2; i++ { // twice: the second time is all duplicates
		if _, err := c.Apply(bg, fromA.Changes); err != nil {
			t.Fatal(err)
		}
	}
	res, err = c.Apply(bg, fromB.Changes)
	if err != nil || res.Applied != 1 || res.Dominated != 1 {
		t.Fatalf("in order = %+v %v", res, err)
	}
	if r := get(t, c, "k"); r.Conflict() {
		t.Fatalf("false conflict: %v", r.Versions)
	}
	sameDigests(t, b, c)
	// A gap in a stream stops the batch too.
	put(t, a, "k2", "v", "x")
	put(t, a, "k3", "v", "y")
	more, _ := a.ChangesSince(c.Summary(), func(Stream) bool { return true }, 1<<20)
	res, err = c.Apply(bg, more.Changes[1:])
	if err != nil || !res.Stopped || res.Applied != 0 {
		t.Fatalf("gap = %+v %v", res, err)
	}
}

func TestApplyRefusesBadBatches(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "sfo")
	if _, err := a.Write(bg, "t", []Mutation{{Table: "x", Key: "1", Value: val("a", "1")}, {Table: "x", Key: "2", Value: val("a", "2")}}); err != nil {
		t.Fatal(err)
	}
	batch, _ := a.ChangesSince(Summary{}, func(Stream) bool { return true }, 1<<20)
	if _, err := b.Apply(bg, batch.Changes[:1]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("split transaction = %v", err)
	}
	if _, err := b.Apply(bg, batch.Changes[1:]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("transaction without its start = %v", err)
	}
	// A change that claims to be b's own, beyond what b wrote.
	forged := *batch.Changes[0]
	forged.Dot.Stream = b.Stream("x")
	forged.TxSize = 1
	forged.TxSeq = 1
	if _, err := b.Apply(bg, []*Change{&forged}); !errors.Is(err, ErrSelfOrigin) {
		t.Fatalf("self-origin = %v", err)
	}
	if b.Summary().Behind(Summary{}) != 0 || len(b.Summary()) != 0 {
		t.Fatalf("a refused batch changed the summary: %v", b.Summary())
	}
}

func TestChangesSinceKeepsTransactionsWhole(t *testing.T) {
	a := newTestStore(t, "tpa1")
	var muts []Mutation
	for i := 0; i < 50; i++ {
		muts = append(muts, Mutation{Table: "extensions", Key: fmt.Sprintf("tpa1/%d", 1000+i), Value: val("name", "x")})
	}
	if _, err := a.Write(bg, "import", muts); err != nil {
		t.Fatal(err)
	}
	put(t, a, "tpa1/9999", "name", "after")
	b, err := a.ChangesSince(Summary{}, func(Stream) bool { return true }, 100)
	if err != nil || len(b.Changes) != 50 || !b.More {
		t.Fatalf("first batch = %d changes, more=%v, %v", len(b.Changes), b.More, err)
	}
	sum := Summary{b.Changes[0].Dot.Stream: 50}
	b, _ = a.ChangesSince(sum, func(Stream) bool { return true }, 100)
	if len(b.Changes) != 1 || b.More {
		t.Fatalf("second batch = %d, more=%v", len(b.Changes), b.More)
	}
}

func TestPruneAndSnapshotCatchUp(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "sfo")
	c := newTestStore(t, "lon")
	for i := 0; i < 40; i++ {
		put(t, a, fmt.Sprintf("k%02d", i), "v", "1")
	}
	put(t, b, "k00", "v", "from-b") // concurrent with a's k00
	pull(t, b, a)
	del(t, a, "k01")
	put(t, a, "k02", "v", "2")
	// a forgets everything older than now: c, new, must take a snapshot.
	n, err := a.PruneLog(bg, time.Now().Add(time.Hour), nil)
	if err != nil || n == 0 {
		t.Fatalf("prune = %d %v", n, err)
	}
	if batch, _ := a.ChangesSince(Summary{}, func(Stream) bool { return true }, 1<<20); !batch.NeedSnapshot {
		t.Fatal("pruned log did not ask for a snapshot")
	}
	put(t, c, "k03", "v", "from-c")
	pull(t, c, a) // by snapshot
	pull(t, c, b)
	pull(t, a, c)
	pull(t, b, a)
	pull(t, a, b)
	pull(t, c, a)
	pull(t, c, b)
	sameDigests(t, a, b, c)
	if _, ok, _ := c.Get("extensions", "k01"); ok {
		t.Fatal("snapshot resurrected a deleted record")
	}
	if r := get(t, c, "k00"); !r.Conflict() {
		t.Fatal("snapshot lost a conflict")
	}
	// c took a's stream from a snapshot: whoever pulls from c needs one too.
	d := newTestStore(t, "ams")
	if batch, _ := c.ChangesSince(d.Summary(), func(Stream) bool { return true }, 1<<20); !batch.NeedSnapshot {
		t.Fatal("changes c never logged were offered as a log")
	}
	pull(t, d, c)
	sameDigests(t, a, d)
}

func TestHistoryAndRevert(t *testing.T) {
	s := newTestStore(t, "tpa1")
	addCluster(t, s)
	ext := func(kv ...string) []string {
		return append([]string{"cluster", "tpa1", "regexten", "6109", "site", "tpa"}, kv...)
	}
	put(t, s, "tpa1/6109", ext("name", "George Lopez", "mailbox", "8109")...)
	d2 := put(t, s, "tpa1/6109", ext("name", "George Lopez", "mailbox", "6109")...)
	put(t, s, "tpa1/6109", ext("name", "G. Lopez", "mailbox", "6109")...)
	var hist []HistoryEntry
	s.View(func(sn *Snapshot) error {
		var err error
		hist, err = sn.History("extensions", "tpa1/6109")
		return err
	})
	if len(hist) != 3 || hist[1].Change.Dot != d2 || hist[1].Change.Context[0] != hist[0].Change.Dot {
		t.Fatalf("history = %+v", hist)
	}
	res, reverted, err := s.Revert(bg, "admin", d2)
	if err != nil || reverted.Dot != d2 || res.Changed != 1 {
		t.Fatalf("revert = %+v %v %v", res, reverted, err)
	}
	// Only the fields d2 set go back; the name changed since stays.
	f, _, _ := s.Get("extensions", "tpa1/6109")
	if f["mailbox"] != "8109" || f["name"] != "G. Lopez" {
		t.Fatalf("after revert = %v", f)
	}
	if r := get(t, s, "tpa1/6109"); r.Winner().Author != fmt.Sprintf("admin (revert of %s)", d2) {
		t.Fatalf("author = %q", r.Winner().Author)
	}
	// Reverting the creation deletes the record.
	if _, _, err := s.Revert(bg, "admin", hist[0].Change.Dot); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get("extensions", "tpa1/6109"); ok {
		t.Fatal("revert of the creation left the record")
	}
	if _, _, err := s.Revert(bg, "admin", Dot{s.Stream("x"), 99}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revert of unknown = %v", err)
	}
	// Once history is pruned, revert says so.
	if _, err := s.PruneLog(bg, time.Now().Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Revert(bg, "admin", d2); !errors.Is(err, ErrPruned) {
		t.Fatalf("revert of pruned = %v", err)
	}
}

func TestGroupCommitManyWriters(t *testing.T) {
	s := newTestStore(t, "tpa1")
	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				key := fmt.Sprintf("tpa1/%d", w*1000+i)
				// Every fifth write is a create that collides, and must fail
				// alone without failing its commit group.
				if i%5 == 4 {
					_, err := s.Write(bg, "t", []Mutation{{Table: "extensions", Key: fmt.Sprintf("tpa1/%d", w*1000), Value: val("a", "b"), Must: MustNotExist}})
					if !errors.Is(err, ErrExists) {
						errs <- fmt.Errorf("colliding create = %v", err)
					}
					continue
				}
				if _, err := s.Write(bg, "t", []Mutation{{Table: "extensions", Key: key, Value: val("w", fmt.Sprint(w))}}); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := uint64(writers * each * 4 / 5)
	if got := s.Summary()[s.Stream("extensions")]; got != want {
		t.Fatalf("seq = %d, want %d", got, want)
	}
	if st := s.Stats(); st.Commits >= want {
		t.Logf("no commit was shared: %d commits for %d writes", st.Commits, want)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig(filepath.Join(dir, "store.db"))
	if _, err := Open(cfg); err == nil || !bytes.Contains([]byte(err.Error()), []byte("--cluster")) {
		t.Fatalf("new store without replica = %v", err)
	}
	cfg.Replica = "tpa1"
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	cfg2.OpenTimeout = 50 * time.Millisecond
	if _, err := Open(cfg2); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open = %v", err)
	}
	s.Close()
	cfg.Replica = "sfo"
	if _, err := Open(cfg); err == nil || !bytes.Contains([]byte(err.Error()), []byte(`belongs to cluster "tpa1"`)) {
		t.Fatalf("wrong replica = %v", err)
	}
	cfg.Replica = ""
	cfg.ReadOnly = true
	ro, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Write(bg, "t", []Mutation{{Table: "x", Key: "k", Value: val("a", "b")}}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write to read-only = %v", err)
	}
	ro.Close()
}

func TestCodecRoundTrip(t *testing.T) {
	c := &Change{Dot: Dot{"tpa1.3f2a9c1b4d5e6f70", 7}, TxSeq: 6, TxSize: 3, Table: "extensions", Key: "tpa1/6109",
		Value: val("name", "x"), Context: []Dot{{"sfo.0000000000000001.sfo", 2}}, HLC: 123456, Author: "admin"}
	b := AppendChange(nil, c)
	got, err := DecodeChange(b)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(c) {
		t.Fatalf("round trip = %+v %v", got, err)
	}
	for i := range b {
		if _, err := DecodeChange(b[:i]); err == nil {
			t.Fatalf("truncated change (%d bytes) accepted", i)
		}
	}
	d, err := ParseDot(c.Dot.String())
	if err != nil || d != c.Dot {
		t.Fatalf("ParseDot = %v %v", d, err)
	}
	for _, bad := range []string{"x", "tpa1:1", "tpa1.zz:1", "tpa1.3f2a9c1b4d5e6f70:0"} {
		if _, err := ParseDot(bad); err == nil {
			t.Errorf("ParseDot(%q) accepted", bad)
		}
	}
}

func FuzzDecodeChange(f *testing.F) {
	f.Add(AppendChange(nil, &Change{Dot: Dot{"tpa1.3f2a9c1b4d5e6f70", 1}, TxSeq: 1, TxSize: 1, Table: "t", Key: "k", Value: []byte{1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChange(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if again, err := DecodeChange(AppendChange(nil, c)); err != nil || fmt.Sprint(again) != fmt.Sprint(c) {
			t.Fatalf("re-encoding changed %+v into %+v (%v)", c, again, err)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, &Record{Versions: []Version{{Dot: Dot{"tpa1.3f2a9c1b4d5e6f70", 1}, HLC: 5, Value: []byte{1}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord("t", "k", b)
		if err != nil {
			return
		}
		v, live := recordWinnerValue(b)
		if live != !r.Winner().Deleted || !bytes.Equal(v, r.Winner().Value) {
			t.Fatalf("fast winner read disagrees with the decoder")
		}
	})
}

func FuzzDecodeSummary(f *testing.F) {
	f.Add(AppendSummary(nil, Summary{"tpa1.3f2a9c1b4d5e6f70": 9}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSummary(b)
		if err != nil {
			return
		}
		if !bytes.Equal(AppendSummary(nil, s), b) {
			t.Fatalf("summary %v re-encodes differently", s)
		}
	})
}

func TestWriteLocal(t *testing.T) {
	s := newTestStore(t, "tpa1")
	res, err := s.WriteLocal(bg, "mysql", []Mutation{{Table: "extensions", Key: "tpa1/1", Value: val("a", "b")}},
		map[string][]byte{"mysql/binlog": []byte("mysql-bin.000003:1234")})
	if err != nil || res.Changed != 1 {
		t.Fatalf("WriteLocal = %+v %v", res, err)
	}
	// A failing write leaves the local entry as it was.
	_, err = s.WriteLocal(bg, "mysql", []Mutation{{Table: "extensions", Key: "tpa1/1", Value: val("a", "c"), Must: MustNotExist}},
		map[string][]byte{"mysql/binlog": []byte("mysql-bin.000003:9999")})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v", err)
	}
	s.View(func(sn *Snapshot) error {
		if got := string(sn.Local("mysql/binlog")); got != "mysql-bin.000003:1234" {
			t.Fatalf("local = %q", got)
		}
		return nil
	})
}

// A replica that purged a tombstone and then creates the record anew must
// not leave a conflict at a replica that has not purged yet.
func TestCreateAfterPurgeSupersedesTombstoneElsewhere(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "sfo")
	put(t, a, "k", "v", "1")
	del(t, a, "k")
	pull(t, b, a)
	horizon := a.Summary()
	if n, err := a.PurgeTombstones(bg, horizon, horizon); err != nil || n != 1 {
		t.Fatalf("purge = %d %v", n, err)
	}
	put(t, a, "k", "v", "2") // the record is absent at a: a create
	pull(t, b, a)            // b still holds the tombstone
	if r := get(t, b, "k"); r.Conflict() || r.Winner().Deleted {
		t.Fatalf("b: %v", r.Versions)
	}
	sameDigests(t, a, b)
}

// A tombstone every replica has seen must not be purged where a version
// concurrent with it has not arrived yet: the purge would hide a conflict
// that every other replica shows.
func TestPurgeWaitsForConcurrentVersions(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "sfo")
	c := newTestStore(t, "lon")
	put(t, a, "k", "v", "1")
	pull(t, b, a)
	pull(t, c, a)
	del(t, a, "k")                // a deletes...
	put(t, b, "k", "v", "b-side") // ...while b changes it
	pull(t, b, a)                 // b has both: a conflict
	pull(t, c, a)                 // c has only the tombstone so far
	minOf := func(ss ...Summary) Summary {
		out := Summary{}
		for st := range ss[0] {
			out[st] = ss[0][st]
			for _, s := range ss[1:] {
				out[st] = min(out[st], s[st])
			}
		}
		return out
	}
	horizon := minOf(a.Summary(), b.Summary(), c.Summary())
	if !horizon.Covers(get(t, c, "k").Winner().Dot) {
		t.Fatal("test setup: every replica should have seen the tombstone")
	}
	ceiling := b.Summary() // b has the most
	if n, err := c.PurgeTombstones(bg, horizon, ceiling); err != nil || n != 0 {
		t.Fatalf("c purged %d (%v) before the concurrent version reached it", n, err)
	}
	pull(t, c, b)
	if r := get(t, c, "k"); !r.Conflict() {
		t.Fatalf("c lost the conflict: %v", r.Versions)
	}
	pull(t, a, b)
	sameDigests(t, a, b, c)
}
