package store

import (
	"fmt"
	"testing"
)

// TestInheritedConflictShowsTheLosersValue: a conflict of a field stays
// through a write of another field, and its losing side still shows the
// value it set, though that change was one of a line of changes of one
// side (its value kept nowhere but in the record's graph).
func TestInheritedConflictShowsTheLosersValue(t *testing.T) {
	a, b := pair(t)
	mustPatch(t, a, "name", "Ken A") // a's side: name, then callgroup
	mustPatch(t, a, "callgroup", "4")
	mustPatch(t, b, "name", "Ken B")
	exchange(t, a, b)
	mustPatch(t, b, "fullcontact", "merged") // supersedes both sides
	exchange(t, a, b)
	for _, s := range []*Store{a, b} {
		r := get(t, s, "tpa1/6105")
		cs := r.Conflicts()
		if len(r.Versions) != 1 || len(cs) != 1 || cs[0].Unit != "name" {
			t.Fatalf("%s: %+v", s.Replica(), cs)
		}
		values := map[string]bool{}
		for _, sd := range cs[0].Sides {
			values[sd.Fields["name"]] = true
		}
		if !values["Ken A"] || !values["Ken B"] || fields(t, r)["callgroup"] != "4" {
			t.Fatalf("%s: sides %+v, record %v", s.Replica(), cs[0].Sides, fields(t, r))
		}
	}
}

// TestConcurrentCreatesThenAnEdit: two sites create one record at once
// with different values; one of them edits another field of its own
// before the other's create arrives. Every replica, in either order of
// arrival, shows the same conflicts: of the name the creates disagree on,
// and of the field edited at one site without knowing the other's create,
// which set it too (found by a live chaos campaign: a creation superseded
// alone had no node in the graph and counted as seen everywhere, so one
// replica silently took the other side's values).
func TestConcurrentCreatesThenAnEdit(t *testing.T) {
	a, b := newTestStore(t, "tpa1"), newTestStore(t, "lon")
	for _, s := range []*Store{a, b} {
		addCluster(t, s)
	}
	put(t, a, "tpa1/6105", "cluster", "tpa1", "regexten", "6105", "site", "tpa", "name", "from a", "callgroup", "1")
	put(t, b, "tpa1/6105", "cluster", "tpa1", "regexten", "6105", "site", "tpa", "name", "from b", "callgroup", "1")
	mustPatch(t, a, "fullcontact", "edited at a")
	c := newTestStore(t, "sfo")
	pull(t, c, b) // c: b's create, then a's create and edit
	pull(t, c, a)
	exchange(t, a, b)
	var want string
	for _, s := range []*Store{a, b, c} {
		r := get(t, s, "tpa1/6105")
		cs := r.Conflicts()
		var units []string
		for _, c := range cs {
			units = append(units, c.Unit)
		}
		if fmt.Sprint(units) != "[fullcontact name]" {
			t.Fatalf("%s: conflicts %+v, %v", s.Replica(), cs, fields(t, r))
		}
		got := fmt.Sprint(cs, fields(t, r))
		if want == "" {
			want = got
		} else if got != want {
			t.Fatalf("%s shows %s, another replica %s", s.Replica(), got, want)
		}
	}
}
