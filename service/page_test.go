package service

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// FuzzPageAppendJSON checks Page.AppendJSON against encoding/json's
// encoding of the same page, byte for byte.
func FuzzPageAppendJSON(f *testing.F) {
	f.Add(3, "name", "George \"G\" <Lopez> & co\n", true)
	f.Add(0, "", "\xff\u2028", false)
	f.Fuzz(func(t *testing.T, total int, k, v string, nilRows bool) {
		pages := []*Page{
			{Total: total, Rows: []pbx.Fields{{k: v, "regexten": "6109"}, nil, {}}},
			{Total: total, Rows: []pbx.Fields{}},
		}
		if nilRows {
			pages = append(pages, &Page{Total: total})
		}
		// Rows decoded as an indexed listing decodes them, then redacted,
		// or changed: a field added and one removed.
		if row, err := pbx.DecodeFieldsTogether(pbx.Fields{k: v, "regexten": "6109", "secret": "s3cret"}.AppendBinary(nil)); err == nil {
			changed := row.Clone()
			changed["zz"] = "added"
			delete(changed, "regexten")
			pages = append(pages, &Page{Total: total, Rows: []pbx.Fields{row, pbx.Extensions.Redact(row), changed}})
		}
		for _, p := range pages {
			want, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSON = %s\nencoding/json = %s", got, want)
			}
		}
	})
}
