package pbx

import (
	"bytes"
	"math/rand"
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
