package pbx

import (
	"testing"
)

func TestEachFieldSeesEveryField(t *testing.T) {
	in := Fields{"cluster": "tpa1", "regexten": "6109", "name": "George Lopez", "x-custom": "kept", "mailbox": ""}
	got := Fields{}
	if !EachField(in.AppendBinary(nil), func(name string, v []byte) bool {
		got[name] = string(v)
		return true
	}) {
		t.Fatal("EachField reported a well-formed record as malformed")
	}
	if !got.Equal(in) {
		t.Fatalf("EachField saw %v, want %v", got, in)
	}
	n := 0
	EachField(in.AppendBinary(nil), func(string, []byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("EachField went on after fn returned false: %d calls", n)
	}
}

// FuzzEachField checks that EachField never panics and agrees with
// DecodeFields on every record DecodeFields accepts.
func FuzzEachField(f *testing.F) {
	f.Add(Fields{"cluster": "tpa1", "regexten": "6109", "odd": "x"}.AppendBinary(nil))
	f.Add([]byte{fieldsFormat, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Fields{}
		ok := EachField(b, func(name string, v []byte) bool {
			got[name] = string(v)
			return true
		})
		want, err := DecodeFields(b)
		if err == nil && (!ok || !got.Equal(want)) {
			t.Fatalf("EachField = %v (ok %v), DecodeFields = %v", got, ok, want)
		}
	})
}

// EachField sees what decoding sees, a newer agent's field included, and
// does not panic on a form cut anywhere.
func TestEachFieldMatchesDecode(t *testing.T) {
	f := Fields{"cluster": "tpa1", "regexten": "6109", "name": "George", "#99": "x", "allow": "ulaw"}
	b := f.AppendBinary(nil)
	got := Fields{}
	if !EachField(b, func(name string, v []byte) bool { got[name] = string(v); return true }) {
		t.Fatal("EachField refused a whole record")
	}
	if !got.Equal(f) {
		t.Errorf("EachField gave %v, want %v", got, f)
	}
	for i := 0; i < len(b); i++ {
		EachField(b[:i], func(string, []byte) bool { return true })
	}
}
