package pbx

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzFieldsJSON checks Fields.MarshalJSON against encoding/json's
// encoding of the same map, byte for byte.
func FuzzFieldsJSON(f *testing.F) {
	f.Add("name", "George \"G\" <Lopez> & co\n\t\x01", "x", "\xff\u2028é")
	f.Add("", "", "a", "b")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		fl := Fields{k1: v1, k2: v2, "regexten": "6109"}
		got, err := fl.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(map[string]string(fl))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("MarshalJSON = %s\nencoding/json = %s", got, want)
		}
	})
}

func BenchmarkFieldsJSON(b *testing.B) {
	f := Fields{}
	for _, fs := range Extensions.Fields {
		f[fs.Name] = "value of " + fs.Name
	}
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f.MarshalJSON()
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			json.Marshal(map[string]string(f))
		}
	})
}
