package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

func patch(s *Store, key string, m Mutation, kv ...string) (WriteResult, error) {
	m.Table, m.Key, m.Patch = "extensions", key, pbx.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Patch[kv[i]] = kv[i+1]
	}
	return s.Write(bg, "test", []Mutation{m})
}

func addCluster(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.Write(bg, "test", []Mutation{{Table: "clusters", Key: "tpa1", Value: val("name", "tpa1", "site", "tpa", "voice_vip", "192.0.2.1")}}); err != nil {
		t.Fatal(err)
	}
}

func fields(t *testing.T, r *Record) pbx.Fields {
	t.Helper()
	f, _ := r.Fields()
	return f
}

// TestPatchEditsTheCurrentRecord sets fields over the record as it is
// inside the write transaction, validated by the model there.
func TestPatchEditsTheCurrentRecord(t *testing.T) {
	s := newTestStore(t, "tpa1")
	addCluster(t, s)
	if _, err := patch(s, "tpa1/6105", Mutation{}, "name", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("patch of a missing record: %v", err)
	}
	put(t, s, "tpa1/6105", "cluster", "tpa1", "regexten", "6105", "name", "Ken", "callgroup", "5")
	if _, err := patch(s, "tpa1/6105", Mutation{}, "fullcontact", "Ken T", "callgroup", ""); err != nil {
		t.Fatal(err)
	}
	f := fields(t, get(t, s, "tpa1/6105"))
	if f["name"] != "Ken" || f["fullcontact"] != "Ken T" || f["callgroup"] != "" {
		t.Fatalf("after the patch: %v", f)
	}
	// The model refuses a bad value where the patch is applied; nothing changes.
	before := get(t, s, "tpa1/6105").Winner().Dot
	_, err := patch(s, "tpa1/6105", Mutation{}, "call-limit", "abc")
	var ve *pbx.ValidationError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) {
		t.Fatalf("bad value: %v", err)
	}
	if _, err := patch(s, "tpa1/6105", Mutation{}, "regexten", "6106"); !errors.Is(err, pbx.ErrKeyChange) {
		t.Fatalf("key change: %v", err)
	}
	if get(t, s, "tpa1/6105").Winner().Dot != before {
		t.Fatal("a refused patch changed the record")
	}
}

// TestWritesToARecordInConflict: concurrent changes of one field with
// different values make a conflict of that field; a write that changes
// that field without resolving it is refused with the sides, a write of
// another field goes through (the conflict stays), and a resolution that
// has not seen every side fails.
func TestWritesToARecordInConflict(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "lon")
	addCluster(t, a)
	put(t, a, "tpa1/6105", "cluster", "tpa1", "regexten", "6105", "name", "Ken")
	pull(t, b, a)
	if _, err := patch(a, "tpa1/6105", Mutation{}, "name", "Ken A"); err != nil {
		t.Fatal(err)
	}
	if _, err := patch(b, "tpa1/6105", Mutation{}, "name", "Ken B"); err != nil {
		t.Fatal(err)
	}
	pull(t, a, b)
	r := get(t, a, "tpa1/6105")
	if cs := r.Conflicts(); len(cs) != 1 || cs[0].Unit != "name" || len(cs[0].Sides) != 2 {
		t.Fatalf("conflicts: %+v", cs)
	}
	var ce *ConflictError
	if _, err := patch(a, "tpa1/6105", Mutation{}, "name", "Ken C"); !errors.As(err, &ce) || !strings.Contains(err.Error(), "lon") {
		t.Fatalf("a change of the field in conflict: %v", err)
	}
	if _, err := patch(a, "tpa1/6105", Mutation{}, "fullcontact", "other field"); err != nil {
		t.Fatalf("a change of another field: %v", err)
	}
	if r = get(t, a, "tpa1/6105"); len(r.Conflicts()) != 1 || fields(t, r)["fullcontact"] != "other field" {
		t.Fatalf("after a change of another field: %+v %v", r.Conflicts(), fields(t, r))
	}
	// A resolution that read only some of the sides: refused.
	if _, err := patch(a, "tpa1/6105", Mutation{Resolve: []string{"name"}, SupersedeAll: true, IfMatch: r.Dots()[:1]}, "name", "Ken B"); len(r.Dots()) > 1 && !errors.Is(err, ErrPrecondition) {
		t.Fatalf("a resolution blind to a side: %v", err)
	}
	if _, err := patch(a, "tpa1/6105", Mutation{Resolve: []string{"name"}}, "name", "Ken B"); err != nil {
		t.Fatal(err)
	}
	r = get(t, a, "tpa1/6105")
	if f := fields(t, r); r.Conflict() || f["name"] != "Ken B" || f["fullcontact"] != "other field" {
		t.Fatalf("after resolving: conflict %v, %v", r.Conflict(), f)
	}
	pull(t, b, a)
	if rb := get(t, b, "tpa1/6105"); rb.Conflict() || fields(t, rb)["name"] != "Ken B" {
		t.Fatalf("the resolution at lon: %+v", rb.Conflicts())
	}
	sameDigests(t, a, b)
}
