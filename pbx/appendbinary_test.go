package pbx

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
)

// The rank-ordered encoding of dictionary records is the sorted one, byte
// for byte, for any subset of the dictionary, and records with other
// names still take the sorted path.
func TestAppendBinaryByRankIsSorted(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		f := Fields{}
		for n := rnd.Intn(maxDictionaryFields + 5); n > 0; n-- {
			f[fieldDictionary[rnd.Intn(len(fieldDictionary))]] = []string{"", "x", "tpa1", "a longer value, with commas"}[rnd.Intn(4)]
		}
		if i%7 == 0 {
			f["not_in_the_dictionary"] = "v"
		}
		got, want := f.AppendBinary([]byte{0xee}), f.appendSorted([]byte{0xee})
		if !bytes.Equal(got, want) {
			t.Fatalf("%v: AppendBinary %x, sorted %x", f, got, want)
		}
	}
}

// Check lists a record's problems in field-name order, whatever the
// order of the map, then the missing required fields.
func TestCheckProblemsInNameOrder(t *testing.T) {
	for i := 0; i < 20; i++ {
		_, err := Extensions.Check(Fields{"regexten": "6109", "secret": "x\x01", "context": "no spaces", "callgroup": "x", "language": "bad language!"})
		ve, ok := err.(*ValidationError)
		if !ok {
			t.Fatalf("want a *ValidationError, got %v", err)
		}
		var fields []string
		for _, p := range ve.Problems {
			fields = append(fields, p.Field)
		}
		if got, want := fields, []string{"callgroup", "context", "language", "secret", "cluster"}; !equalStrings(got, want) {
			t.Fatalf("problems of fields %v, want %v (%v)", got, want, err)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A row that looks up its own table (a cluster's failover) waits until
// every row is in; rows of other tables are resolved as they are added.
// Either way every bad line is named, in line order.
func TestPreparerResolvesForwardReferencesAndNamesBadLines(t *testing.T) {
	base := MapCatalog{}
	base.Put(Sites, Fields{"name": "tpa", "timezone": "UTC"})
	clusters := []Row{
		{Line: 2, Fields: Fields{"name": "tpa1", "site": "tpa", "voice_vip": "10.0.0.1", "failover": "tpa2"}}, // tpa2 is further down
		{Line: 3, Fields: Fields{"name": "tpa3", "site": "tpa", "voice_vip": "10.0.0.3", "failover": "nowhere"}},
		{Line: 4, Fields: Fields{"name": "tpa2", "site": "tpa", "voice_vip": "10.0.0.2", "failover": "tpa1"}},
	}
	_, err := PrepareRows(Clusters, "clusters.csv", clusters, base)
	ie, ok := err.(*InputError)
	if !ok || len(ie.Lines) != 1 || ie.Lines[0].Line != 3 || !strings.Contains(ie.Lines[0].Error(), `failover cluster "nowhere" is not defined`) {
		t.Fatalf("want line 3 alone refused for its failover, got %v", err)
	}
	recs, err := PrepareRows(Clusters, "clusters.csv", []Row{clusters[0], clusters[2]}, base)
	if err != nil || len(recs) != 2 {
		t.Fatalf("forward reference refused: %v", err)
	}
	for _, f := range recs {
		base.Put(Clusters, f)
	}
	base.Put(Groups, Fields{"name": "IT", "contexts": "IT", "context": "IT"})
	exts := []Row{
		{Line: 2, Fields: Fields{"cluster": "tpa1", "regexten": "6101", "astgroup": "Sales"}},
		{Line: 3, Fields: Fields{"cluster": "tpa1", "regexten": "6102", "astgroup": "IT"}},
		{Line: 4, Fields: Fields{"cluster": "tpa1", "regexten": "61O3"}},
		{Line: 5, Fields: Fields{"cluster": "tpa1", "regexten": "6102"}},
	}
	_, err = PrepareRows(Extensions, "extensions.csv", exts, base)
	ie, ok = err.(*InputError)
	if !ok || len(ie.Lines) != 3 {
		t.Fatalf("want lines 2, 4 and 5 refused, got %v", err)
	}
	for i, want := range []string{`group "Sales" is not defined`, "61O3", "appears twice (first on line 3)"} {
		if l := ie.Lines[i]; l.Line != []int{2, 4, 5}[i] || !strings.Contains(l.Error(), want) {
			t.Errorf("line %d: %v, want %q", l.Line, l.Err, want)
		}
	}
	recs, err = PrepareRows(Extensions, "extensions.csv", exts[1:2], base)
	if err != nil || recs[0]["site"] != "tpa" {
		t.Fatalf("the site is filled from the cluster: %v %v", recs, err)
	}
}
