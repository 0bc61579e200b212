package pbx

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// LineError is a problem with one line of an input file.
type LineError struct {
	Line int // 1-based line number in the file
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e LineError) Unwrap() error { return e.Err }

// InputError lists every bad line of an input file. Nothing of the file is
// applied when it is returned.
type InputError struct {
	Source string
	Lines  []LineError
	More   int // bad lines beyond those listed
}

// maxListedErrors bounds the lines an InputError keeps, so a file of
// garbage cannot exhaust memory; the count of the rest is kept.
const maxListedErrors = 1000

func (e *InputError) Error() string {
	var b strings.Builder
	n := len(e.Lines) + e.More
	fmt.Fprintf(&b, "%s: %d bad %s, nothing was changed", e.Source, n, plural(n, "line", "lines"))
	for _, l := range e.Lines {
		b.WriteString("\n  ")
		b.WriteString(l.Error())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", e.More)
	}
	return b.String()
}

func (e *InputError) add(line int, err error) {
	if len(e.Lines) < maxListedErrors {
		e.Lines = append(e.Lines, LineError{line, err})
	} else {
		e.More++
	}
}

func (e *InputError) orNil() error {
	if len(e.Lines) == 0 {
		return nil
	}
	return e
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Row is one record read from a file, with where it came from.
type Row struct {
	Line   int
	Fields Fields
}

// ReadCSV reads a CSV file with a header row of column names for table t
// and calls fn for every record. Unknown or repeated columns stop the read
// with an error naming them; a bad line is reported with its line number
// and reading goes on, so one run shows every problem. Errors returned by fn
// are collected the same way. The result is nil or an *InputError.
func ReadCSV(r io.Reader, source string, t *Table, fn func(Row) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return &InputError{Source: source, Lines: []LineError{{1, errors.New("the file is empty; the first line must name the columns")}}}
	}
	if err != nil {
		return &InputError{Source: source, Lines: []LineError{{lineOf(err, 1), err}}}
	}
	cols, err := csvColumns(t, header)
	if err != nil {
		return &InputError{Source: source, Lines: []LineError{{1, err}}}
	}
	bad := &InputError{Source: source}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			bad.add(lineOf(err, 0), csvProblem(err))
			if len(bad.Lines)+bad.More > 100*maxListedErrors {
				break // not a CSV file at all; enough said
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(cols) {
			if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
				continue
			}
			bad.add(line, fmt.Errorf("has %d values, the header has %d columns", len(rec), len(cols)))
			continue
		}
		f := make(Fields, len(cols))
		for i, c := range cols {
			if v := FromCSVCell(strings.TrimSpace(rec[i])); v != "" {
				f[c] = v
			}
		}
		if err := fn(Row{line, f}); err != nil {
			bad.add(line, err)
		}
	}
	return bad.orNil()
}

func csvColumns(t *Table, header []string) ([]string, error) {
	cols := make([]string, len(header))
	seen := map[string]bool{}
	var unknown []string
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, ok := t.Spec(h); !ok {
			if near := Nearest(h, t.Columns()); near != "" {
				unknown = append(unknown, fmt.Sprintf("%q (did you mean %q?)", h, near))
			} else {
				unknown = append(unknown, strconv.Quote(h))
			}
		}
		if seen[h] {
			return nil, fmt.Errorf("column %q appears twice in the header", h)
		}
		seen[h] = true
		cols[i] = h
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown %s %s for table %s", plural(len(unknown), "column", "columns"), strings.Join(unknown, ", "), t.Name)
	}
	for _, k := range t.Key {
		if !seen[k] {
			return nil, fmt.Errorf("the header lacks the key column %q of table %s", k, t.Name)
		}
	}
	return cols, nil
}

func lineOf(err error, def int) int {
	var pe *csv.ParseError
	if errors.As(err, &pe) && pe.Line > 0 {
		return pe.Line
	}
	return def
}

func csvProblem(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrBareQuote):
			return fmt.Errorf("column %d has a quote inside an unquoted value; quote the whole value and double the inner quote (\"\")", pe.Column)
		case errors.Is(pe.Err, csv.ErrQuote):
			return fmt.Errorf("column %d has an unterminated or stray quote; close the quoted value", pe.Column)
		}
		return pe.Err
	}
	return err
}

// WriteCSV writes rows with a header of the given columns; cells a
// spreadsheet would run as formulas are made inert (CSVCell), which
// ReadCSV undoes.
func WriteCSV(w io.Writer, cols []string, rows []Fields) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	rec := make([]string, len(cols))
	for _, r := range rows {
		for i, c := range cols {
			rec[i] = CSVCell(r[c])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// maxJSONInput bounds a JSON import held in memory.
const maxJSONInput = 1 << 30

// ReadJSON reads a JSON array of objects (field name to string, number,
// boolean or null) for table t and calls fn for each, with the line where
// the object starts. Like ReadCSV it reports every bad record.
func ReadJSON(r io.Reader, source string, t *Table, fn func(Row) error) error {
	data, err := io.ReadAll(io.LimitReader(r, maxJSONInput+1))
	if err != nil {
		return err
	}
	if len(data) > maxJSONInput {
		return &InputError{Source: source, Lines: []LineError{{1, fmt.Errorf("the file is larger than %d bytes; split it", maxJSONInput)}}}
	}
	lines := newLineIndex(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return &InputError{Source: source, Lines: []LineError{{lines.line(dec.InputOffset()), errors.New("want a JSON array of records: [{\"cluster\": \"tpa1\", ...}, ...]")}}}
	}
	bad := &InputError{Source: source}
	for dec.More() {
		start := lines.line(skipSpace(data, dec.InputOffset()))
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			bad.add(lines.line(dec.InputOffset()), jsonProblem(err))
			return bad // the decoder cannot resynchronize after a syntax error
		}
		if raw == nil {
			bad.add(start, errors.New("the record is null; want an object of fields"))
			continue
		}
		f, err := jsonFields(t, raw)
		if err == nil {
			err = fn(Row{start, f})
		}
		if err != nil {
			bad.add(start, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		bad.add(lines.line(dec.InputOffset()), errors.New("the array is not closed with ']'"))
	} else if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		bad.add(lines.line(skipSpace(data, dec.InputOffset())), errors.New("data after the array; a file holds one array of records"))
	}
	return bad.orNil()
}

func jsonFields(t *Table, raw map[string]any) (Fields, error) {
	f := make(Fields, len(raw))
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch v := raw[k].(type) {
		case string:
			f[k] = v
		case json.Number:
			f[k] = v.String()
		case bool:
			f[k] = "no"
			if v {
				f[k] = "yes"
			}
		case nil:
		default:
			return nil, fmt.Errorf("field %q holds a %s; use a string", k, jsonKind(v))
		}
	}
	return f, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func jsonProblem(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON: %v", se)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("want an object of fields, found a JSON %s", te.Value)
	}
	return err
}

func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',':
			off++
			continue
		}
		break
	}
	return off
}

type lineIndex []int64

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{}
	for i, c := range data {
		if c == '\n' {
			idx = append(idx, int64(i))
		}
	}
	return idx
}

// line returns the 1-based line of byte offset off.
func (idx lineIndex) line(off int64) int {
	return sort.Search(len(idx), func(i int) bool { return idx[i] >= off }) + 1
}

// WriteJSON writes rows as a JSON array of objects, one per line.
func WriteJSON(w io.Writer, rows []Fields) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i, r := range rows {
		sep := ",\n"
		if i == 0 {
			sep = "\n"
		}
		b, err := json.Marshal(map[string]string(r))
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}

// ReadFile reads a .csv or .json file of table t, chosen by the name.
func ReadFile(r io.Reader, name string, t *Table, fn func(Row) error) error {
	switch {
	case strings.HasSuffix(strings.ToLower(name), ".json"):
		return ReadJSON(r, name, t, fn)
	case strings.HasSuffix(strings.ToLower(name), ".csv"), name == "-":
		return ReadCSV(r, name, t, fn)
	}
	return fmt.Errorf("%s: unknown file type; use a .csv or .json file", name)
}
