package pbx

import "strings"

// Spreadsheet formulas. A cell that starts with = + - @, a tab or a
// carriage return is a formula to Excel and LibreOffice (=HYPERLINK(...),
// +cmd|' /C calc'!A0, @SUM(...)). Following OWASP's rule, CSV output
// makes such a cell inert by prefixing a single quote, which spreadsheets
// show as text and do not keep. CSV input removes that quote again, so an
// export imported back changes nothing, and an E.164 number such as
// +14155550123 comes back exactly as it went in. A value that itself
// starts with quotes before such a character gets one more quote, so the
// two directions stay exact inverses for every value.

// formulaStart reports whether v, past any leading quotes, starts with a
// character a spreadsheet reads as the start of a formula.
func formulaStart(v string) bool {
	v = strings.TrimLeft(v, "'")
	return v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0]))
}

// CSVCell returns v as a CSV cell a spreadsheet will not run.
func CSVCell(v string) string {
	if formulaStart(v) {
		return "'" + v
	}
	return v
}

// FromCSVCell undoes CSVCell.
func FromCSVCell(c string) string {
	if strings.HasPrefix(c, "'") && formulaStart(c) {
		return c[1:]
	}
	return c
}
