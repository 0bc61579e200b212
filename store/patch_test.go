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
	f, err := pbx.DecodeFields(r.Winner().Value)
	if err != nil {
		t.Fatal(err)
	}
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

// TestWritesToARecordInConflict: a write that does not say which side it
// changes is refused with the sides named; a patch that takes a side
// resolves the conflict; a resolution that has not seen every side fails.
func TestWritesToARecordInConflict(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "lon")
	addCluster(t, a)
	put(t, a, "tpa1/6105", "cluster", "tpa1", "regexten", "6105", "name", "Ken")
	pull(t, b, a)
	put(t, a, "tpa1/6105", "cluster", "tpa1", "regexten", "6105", "name", "Ken A")
	put(t, b, "tpa1/6105", "cluster", "tpa1", "regexten", "6105", "name", "Ken B")
	pull(t, a, b)
	r := get(t, a, "tpa1/6105")
	if !r.Conflict() {
		t.Fatal("no conflict")
	}
	var ce *ConflictError
	for _, m := range []Mutation{{Value: val("name", "blind")}, {}} {
		m.Table, m.Key = "extensions", "tpa1/6105"
		if _, err := a.Write(bg, "t", []Mutation{m}); !errors.As(err, &ce) || len(ce.Versions) != 2 {
			t.Fatalf("a write that names no side: %v", err)
		}
	}
	if _, err := patch(a, "tpa1/6105", Mutation{}, "fullcontact", "x"); !errors.As(err, &ce) || !strings.Contains(err.Error(), "from lon") {
		t.Fatalf("a patch that names no side: %v", err)
	}
	lonSide := r.Versions[0].Dot
	if lonSide.Stream.Cluster() != "lon" {
		lonSide = r.Versions[1].Dot
	}
	// A resolution that read only one side: refused.
	if _, err := patch(a, "tpa1/6105", Mutation{Take: lonSide, SupersedeAll: true, IfMatch: []Dot{lonSide}}, "fullcontact", "x"); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("a resolution blind to a side: %v", err)
	}
	if _, err := patch(a, "tpa1/6105", Mutation{Take: lonSide, SupersedeAll: true, IfMatch: r.Dots()}, "fullcontact", "x"); err != nil {
		t.Fatal(err)
	}
	r = get(t, a, "tpa1/6105")
	if f := fields(t, r); r.Conflict() || f["name"] != "Ken B" || f["fullcontact"] != "x" {
		t.Fatalf("after taking lon's side: conflict %v, %v", r.Conflict(), f)
	}
}
