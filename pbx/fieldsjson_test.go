package pbx

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// FuzzFieldsUnmarshalJSON checks Fields.UnmarshalJSON against
// encoding/json's decoding of the same bytes into a map: the same fields,
// and an error exactly when encoding/json gives one.
func FuzzFieldsUnmarshalJSON(f *testing.F) {
	f.Add([]byte(`{"name":"George Lopez","regexten":"6109"}`))
	f.Add([]byte(` { "a" : "b" , "a":"c"} `))
	f.Add([]byte(`{"a":"\u00e9\"","b":"é"}`))
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"a":"b",}`))
	f.Add([]byte("{\"a\":\"\xff\"}"))
	f.Add([]byte(`[{"a":"b"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got Fields
		gotErr := json.Unmarshal(data, &got)
		var want map[string]string
		wantErr := json.Unmarshal(data, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: UnmarshalJSON error %v, encoding/json error %v", data, gotErr, wantErr)
		}
		if gotErr == nil && !maps.Equal(map[string]string(got), want) {
			t.Fatalf("%q: UnmarshalJSON = %v, encoding/json = %v", data, got, want)
		}
		if gotErr == nil && (got == nil) != (want == nil) {
			t.Fatalf("%q: UnmarshalJSON nil %v, encoding/json nil %v", data, got == nil, want == nil)
		}
	})
}

// TestFieldsUnmarshalJSONKeeps: decoding into fields that hold values
// adds to them, as encoding/json does with a map.
func TestFieldsUnmarshalJSONKeeps(t *testing.T) {
	f := Fields{"name": "George Lopez", "mailbox": "6109"}
	if err := json.Unmarshal([]byte(`{"name":"G. Lopez","context":"sales"}`), &f); err != nil {
		t.Fatal(err)
	}
	want := Fields{"name": "G. Lopez", "mailbox": "6109", "context": "sales"}
	if !maps.Equal(f, want) {
		t.Fatalf("got %v, want %v", f, want)
	}
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
	data := f.AppendJSON(nil)
	b.Run("unmarshal/fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var g Fields
			if err := json.Unmarshal(data, &g); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal/encoding/json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var g map[string]string
			if err := json.Unmarshal(data, &g); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendJSONFromBinary writes an extension of the sample as a
// listing's page does, secrets redacted.
func BenchmarkAppendJSONFromBinary(b *testing.B) {
	fh, err := os.Open(filepath.Join("..", "testdata", "enterprise", "extensions.csv"))
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	var recs [][]byte
	ReadCSV(fh, "x", Extensions, func(r Row) error {
		recs = append(recs, r.Fields.AppendBinary(nil))
		return nil
	})
	secret := Extensions.SecretFields()
	redact := func(name string) bool { return slices.Contains(secret, name) }
	var out []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var ok bool
		if out, ok = AppendJSONFromBinary(out[:0], recs[i%len(recs)], redact); !ok {
			b.Fatal("does not decode")
		}
	}
}
