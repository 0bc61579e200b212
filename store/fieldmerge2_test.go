package store

import "testing"

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
