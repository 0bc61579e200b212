package pbx

import "testing"

func TestRangeFieldsMatchesDecode(t *testing.T) {
	f := Fields{"cluster": "tpa1", "regexten": "6109", "name": "George", "#99": "x", "allow": "ulaw"}
	b := f.AppendBinary(nil)
	got := Fields{}
	if err := RangeFields(b, func(name string, v []byte) { got[name] = string(v) }); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(f) {
		t.Errorf("RangeFields gave %v, want %v", got, f)
	}
	for i := 0; i < len(b); i++ {
		RangeFields(b[:i], func(string, []byte) {}) // no panic on a cut form
	}
}
