package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// format returns the output format: the -o flag, else the command's
// default (contract.go; table for most). Scripts asked for tables get
// tables: only an explicit -o changes it, on a terminal or not.
func (a *app) format() (string, error) {
	f := strings.ToLower(a.v.GetString("output"))
	switch f {
	case "":
		if fs, ok := outputFormats[commandPath(a.cmd)]; ok && a.cmd != nil {
			return fs[0], nil
		}
		return "table", nil
	case "table", "json", "csv":
		return f, nil
	}
	return "", usageErrorf("unknown output format %q: use table, json or csv", f)
}

// result is what a command prints, in each format it declares: JSON of
// a value, CSV rows, a table (or text) for people.
type result struct {
	JSON  any
	Head  []string          // CSV: the header row
	Rows  func() [][]string // CSV: the rows
	Table func(w io.Writer) error
}

// report prints what an action did: its JSON form, or its text.
func (a *app) report(v any, text string) error {
	return a.print(result{JSON: v, Table: func(w io.Writer) error {
		_, err := io.WriteString(w, text)
		return err
	}})
}

// print writes r in the command's format.
func (a *app) print(r result) error {
	f, err := a.format()
	if err != nil {
		return err
	}
	switch {
	case f == "json":
		return printJSON(a.stdout, r.JSON)
	case f == "csv" && r.Rows != nil:
		cw := csv.NewWriter(a.stdout)
		cw.Write(r.Head)
		for _, row := range r.Rows() {
			for i := range row {
				row[i] = pbx.CSVCell(row[i])
			}
			cw.Write(row)
		}
		cw.Flush()
		return cw.Error()
	case f == "csv":
		return fmt.Errorf("internal: 'pbxtopo %s' declares csv and prints none", commandPath(a.cmd))
	}
	return r.Table(a.stdout)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// column is one column of a table: its heading and the field it shows.
type column struct{ head, field string }

// printRecords prints records as a table with the given columns, or as
// JSON/CSV with every field.
func (a *app) printRecords(t *pbx.Table, rows []pbx.Fields, cols []column) error {
	if !a.v.GetBool("show-secrets") {
		for i, r := range rows {
			rows[i] = t.Redact(r)
		}
	}
	f, err := a.format()
	if err != nil {
		return err
	}
	switch f {
	case "json":
		if rows == nil {
			rows = []pbx.Fields{}
		}
		return printJSON(a.stdout, rows)
	case "csv":
		return pbx.WriteCSV(a.stdout, t.ConfigColumns(), rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = strings.ToUpper(c.head)
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = r[c.field]
			if vals[i] == "" {
				vals[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

// defaultColumns picks the table columns of a listing: the guide's users
// and extensions list for extensions, the first columns otherwise.
func defaultColumns(t *pbx.Table) []column {
	if t == pbx.Extensions {
		return []column{{"site", "site"}, {"cluster", "cluster"}, {"group", "astgroup"}, {"extension", "regexten"},
			{"name", "name"}, {"vm box", "mailbox"}, {"roaming", "roaming"}}
	}
	var cols []column
	for _, f := range t.Fields {
		if len(cols) == 7 {
			break
		}
		if !f.Secret && !f.Status {
			cols = append(cols, column{f.Name, f.Name})
		}
	}
	return cols
}

// printFields prints one record as "field: value" lines in column order.
func (a *app) printFields(t *pbx.Table, f pbx.Fields) {
	if !a.v.GetBool("show-secrets") {
		f = t.Redact(f)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	for _, c := range t.Columns() {
		if v := f[c]; v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", c, v)
		}
	}
	for _, k := range f.Names() {
		if _, known := t.Spec(k); !known {
			fmt.Fprintf(tw, "%s\t%s\t(unknown to this version)\n", k, f[k])
		}
	}
	tw.Flush()
}

// rowsOf is the Rows of a result: one row per item.
func rowsOf[T any](items []T, row func(T) []string) func() [][]string {
	return func() [][]string {
		var rows [][]string
		for _, it := range items {
			rows = append(rows, row(it))
		}
		return rows
	}
}
