package store

import (
	"fmt"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// pair returns two replicas that both hold tpa1/6105 as created at a.
func pair(t *testing.T) (a, b *Store) {
	t.Helper()
	a, b = newTestStore(t, "tpa1"), newTestStore(t, "lon")
	addCluster(t, a)
	put(t, a, "tpa1/6105", "cluster", "tpa1", "regexten", "6105", "name", "Ken", "callgroup", "1", "mailbox", "6105", "vmsecret", "4711")
	pull(t, b, a)
	return a, b
}

func exchange(t *testing.T, a, b *Store) {
	t.Helper()
	pull(t, a, b)
	pull(t, b, a)
	sameDigests(t, a, b)
}

func mustPatch(t *testing.T, s *Store, kv ...string) {
	t.Helper()
	if _, err := patch(s, "tpa1/6105", Mutation{}, kv...); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentEditsOfDifferentFieldsMerge: one site changes the PIN,
// the other the call group, at once: both survive, with no conflict, the
// same at both replicas, in either order of arrival.
func TestConcurrentEditsOfDifferentFieldsMerge(t *testing.T) {
	for _, order := range []string{"a first", "b first"} {
		t.Run(order, func(t *testing.T) {
			a, b := pair(t)
			mustPatch(t, a, "vmsecret", "8080")
			mustPatch(t, b, "callgroup", "7")
			if order == "a first" {
				exchange(t, a, b)
			} else {
				exchange(t, b, a)
			}
			for _, s := range []*Store{a, b} {
				r := get(t, s, "tpa1/6105")
				f := fields(t, r)
				if r.Conflict() || f["vmsecret"] != "8080" || f["callgroup"] != "7" || f["name"] != "Ken" {
					t.Fatalf("%s: conflict %v, %v", s.Replica(), r.Conflicts(), f)
				}
			}
			// A later edit supersedes both sides: one version again.
			mustPatch(t, a, "name", "Ken T")
			exchange(t, a, b)
			if r := get(t, b, "tpa1/6105"); len(r.Versions) != 1 || fields(t, r)["vmsecret"] != "8080" || fields(t, r)["callgroup"] != "7" {
				t.Fatalf("after a later edit: %d versions, %v", len(r.Versions), fields(t, r))
			}
		})
	}
}

// TestSameFieldTwoValuesIsAConflictOfThatField: the same field set to two
// values is a conflict of that field only, the same winner everywhere, the
// loser kept; equal values are no conflict; a group (mailbox with its PIN)
// conflicts as a whole.
func TestSameFieldTwoValuesIsAConflictOfThatField(t *testing.T) {
	a, b := pair(t)
	mustPatch(t, a, "name", "Ken A", "callgroup", "3")
	mustPatch(t, b, "name", "Ken B", "callgroup", "3", "vmsecret", "9999")
	exchange(t, a, b)
	ra, rb := get(t, a, "tpa1/6105"), get(t, b, "tpa1/6105")
	ca, cb := ra.Conflicts(), rb.Conflicts()
	if len(ca) != 1 || ca[0].Unit != "name" || len(ca[0].Sides) != 2 {
		t.Fatalf("conflicts at a: %+v", ca)
	}
	if fmt.Sprint(ca) != fmt.Sprint(cb) || fields(t, ra)["name"] != fields(t, rb)["name"] {
		t.Fatalf("the replicas differ: %+v / %+v", ca, cb)
	}
	winner, loser := ca[0].Sides[0].Fields["name"], ca[0].Sides[1].Fields["name"]
	if winner == loser || fields(t, ra)["name"] != winner {
		t.Fatalf("winner %q, loser %q, shown %q", winner, loser, fields(t, ra)["name"])
	}
	if f := fields(t, ra); f["callgroup"] != "3" || f["vmsecret"] != "9999" || f["mailbox"] != "6105" {
		t.Fatalf("the other fields: %v", f)
	}

	// The voicemail group: a mailbox at one site, a PIN at the other.
	a, b = pair(t)
	mustPatch(t, a, "mailbox", "7105")
	mustPatch(t, b, "vmsecret", "1212")
	exchange(t, a, b)
	if cs := get(t, a, "tpa1/6105").Conflicts(); len(cs) != 1 || cs[0].Unit != "mailbox" || fmt.Sprint(cs[0].Fields) != "[mailbox vmsecret]" {
		t.Fatalf("mailbox and PIN changed apart: %+v", cs)
	}
}

// TestDeleteAgainstUpdate: a deletion concurrent with a change is a
// conflict of the record: deleted on one side, changed on the other.
func TestDeleteAgainstUpdate(t *testing.T) {
	a, b := pair(t)
	del(t, a, "tpa1/6105")
	mustPatch(t, b, "callgroup", "9")
	exchange(t, a, b)
	r := get(t, a, "tpa1/6105")
	conflict, why := r.RecordConflict()
	cs := r.Conflicts()
	if !conflict || why == "" || len(cs) != 1 || cs[0].Unit != pbx.WholeRecord || len(cs[0].Sides) != 2 {
		t.Fatalf("delete against update: %v %q %+v", conflict, why, cs)
	}
	// Two deletions at once are no conflict.
	a, b = pair(t)
	del(t, a, "tpa1/6105")
	del(t, b, "tpa1/6105")
	exchange(t, a, b)
	if r := get(t, a, "tpa1/6105"); r.Conflict() || r.Exists() {
		t.Fatalf("two deletions: %+v", r.Conflicts())
	}
}

// TestSameImportAtTwoSitesIsNoConflict: the same records written at two
// sites at once (an import of one CSV) make no conflict.
func TestSameImportAtTwoSitesIsNoConflict(t *testing.T) {
	a, b := newTestStore(t, "tpa1"), newTestStore(t, "lon")
	for _, s := range []*Store{a, b} {
		for i := 0; i < 20; i++ {
			put(t, s, fmt.Sprintf("tpa1/%d", 7000+i), "cluster", "tpa1", "regexten", fmt.Sprint(7000+i), "name", "same")
		}
	}
	exchange(t, a, b)
	n := 0
	a.View(func(sn *Snapshot) error { return sn.Conflicts(func(*Record) error { n++; return nil }) })
	if n != 0 {
		t.Fatalf("%d conflicts from one CSV imported twice", n)
	}
}

// TestConflictOutlivesAWriteOfAnotherField: a conflict of one field stays
// when a later write that saw both sides changes another field, at every
// replica.
func TestConflictOutlivesAWriteOfAnotherField(t *testing.T) {
	a, b := pair(t)
	mustPatch(t, a, "name", "Ken A")
	mustPatch(t, b, "name", "Ken B")
	exchange(t, a, b)
	mustPatch(t, a, "callgroup", "4")
	exchange(t, a, b)
	for _, s := range []*Store{a, b} {
		r := get(t, s, "tpa1/6105")
		if cs := r.Conflicts(); len(r.Versions) != 1 || len(cs) != 1 || cs[0].Unit != "name" || fields(t, r)["callgroup"] != "4" {
			t.Fatalf("%s: %d versions, conflicts %+v, %v", s.Replica(), len(r.Versions), cs, fields(t, r))
		}
	}
}

// TestFormat1RecordConflictShowsItsFields reads a record-level conflict
// stored by the previous release (two versions, format 1, no graph): it
// shows as a conflict of exactly the fields whose values differ.
func TestFormat1RecordConflictShowsItsFields(t *testing.T) {
	old := &Record{Table: "extensions", Key: "tpa1/6105", Versions: []Version{
		{Dot: Dot{"lon.0000000000000002", 3}, HLC: 20, Author: "bob", Value: val("cluster", "tpa1", "regexten", "6105", "name", "Ken B", "callgroup", "1")},
		{Dot: Dot{"tpa1.0000000000000001", 5}, HLC: 10, Author: "alice", Value: val("cluster", "tpa1", "regexten", "6105", "name", "Ken A", "callgroup", "1")},
	}}
	enc := AppendRecord(nil, old)
	if enc[0] != recordFormat2 {
		t.Fatalf("a merged record stored in format %d", enc[0])
	}
	format1 := appendRecord(nil, old, nil)
	if format1[0] != recordFormat {
		t.Fatalf("format %d", format1[0])
	}
	r, err := DecodeRecord("extensions", "tpa1/6105", format1)
	if err != nil {
		t.Fatal(err)
	}
	cs := r.Conflicts()
	if len(cs) != 1 || cs[0].Unit != "name" || cs[0].Sides[0].Fields["name"] != "Ken B" {
		t.Fatalf("conflicts: %+v", cs)
	}
}

// TestSnapshotCarriesTheGraph: a replica caught up by a snapshot (not the
// log) merges field by field as one that pulled every change: the record,
// its versions and its graph travel whole.
func TestSnapshotCarriesTheGraph(t *testing.T) {
	a, b := pair(t)
	mustPatch(t, a, "name", "Ken A")
	mustPatch(t, b, "callgroup", "5")
	c := newTestStore(t, "sfo")
	snapshot(t, c, a) // c learns a's state by snapshot
	snapshot(t, c, b) // and b's
	pull(t, a, b)
	for _, s := range []*Store{a, c} {
		r := get(t, s, "tpa1/6105")
		if f := fields(t, r); r.Conflict() || f["name"] != "Ken A" || f["callgroup"] != "5" {
			t.Fatalf("%s: conflicts %+v, %v", s.Replica(), r.Conflicts(), f)
		}
	}
	// And a conflict of one field survives a snapshot the same way.
	mustPatch(t, a, "fullcontact", "A")
	mustPatch(t, b, "fullcontact", "B")
	d := newTestStore(t, "ams")
	snapshot(t, d, a)
	snapshot(t, d, b)
	pull(t, a, b)
	ca, cd := get(t, a, "tpa1/6105").Conflicts(), get(t, d, "tpa1/6105").Conflicts()
	if len(ca) != 1 || fmt.Sprint(ca) != fmt.Sprint(cd) {
		t.Fatalf("conflicts at a %+v, at d (by snapshot) %+v", ca, cd)
	}
}

// TestQuietRecordCostsOneDot: edits leave graph nodes until every replica
// has seen them; the next tombstone collection then drops them, and the
// record is stored as before field-level merge (format 1, one version).
func TestQuietRecordCostsOneDot(t *testing.T) {
	a, b := pair(t)
	for i := 0; i < 10; i++ {
		mustPatch(t, a, "fullcontact", fmt.Sprint("edit ", i))
	}
	notYet := b.Summary()
	pull(t, b, a)
	raw := func(s *Store) []byte {
		var v []byte
		s.View(func(sn *Snapshot) error {
			bk, _ := tableBucket(sn.tx, "extensions", false)
			v = append([]byte(nil), bk.Get([]byte("tpa1/6105"))...)
			return nil
		})
		return v
	}
	before := raw(a)
	if before[0] != recordFormat2 {
		t.Fatalf("ten unseen edits stored in format %d", before[0])
	}
	// b has not said it has them: nothing is compacted yet.
	if _, err := a.PurgeTombstones(bg, notYet, a.Summary()); err != nil {
		t.Fatal(err)
	}
	if raw(a)[0] != recordFormat2 {
		t.Fatal("edits compacted before every replica had them")
	}
	both := a.Summary()
	if _, err := a.PurgeTombstones(bg, both, both); err != nil {
		t.Fatal(err)
	}
	after := raw(a)
	if after[0] != recordFormat || len(after) >= len(before) {
		t.Fatalf("after collection: format %d, %d bytes (before %d)", after[0], len(after), len(before))
	}
	if f := fields(t, get(t, a, "tpa1/6105")); f["fullcontact"] != "edit 9" {
		t.Fatalf("compaction changed the record: %v", f)
	}
	t.Logf("record %d bytes with ten unseen edits, %d once quiet", len(before), len(after))
}

// TestWriteOverConcurrentDeletesSupersedesThemAll: both sites delete the
// record at once (no conflict: the same outcome); a write that names one
// of the tombstones (an If-Match on the winner) supersedes both. Keeping
// the other made a delete-against-update conflict at replicas that still
// held it and none at one that had purged both (chaos seed 20392 ring).
func TestWriteOverConcurrentDeletesSupersedesThemAll(t *testing.T) {
	a, b := pair(t)
	del(t, a, "tpa1/6105")
	del(t, b, "tpa1/6105")
	exchange(t, a, b)
	r := get(t, a, "tpa1/6105")
	if len(r.Versions) != 2 || r.Conflict() {
		t.Fatalf("two concurrent deletes: %d versions, conflict %v", len(r.Versions), r.Conflict())
	}
	m := Mutation{Table: "extensions", Key: "tpa1/6105", Value: val("cluster", "tpa1", "regexten", "6105", "name", "Ken again"),
		IfMatch: []Dot{r.Winner().Dot}}
	if _, err := a.Write(bg, "test", []Mutation{m}); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	for _, s := range []*Store{a, b} {
		if r := get(t, s, "tpa1/6105"); len(r.Versions) != 1 || r.Conflict() || fields(t, r)["name"] != "Ken again" {
			t.Fatalf("%s: %d versions, conflict %v", s.Replica(), len(r.Versions), r.Conflict())
		}
	}
}
