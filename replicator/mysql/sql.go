package mysql

import (
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
)

// selectRows reads the mapped columns of a table's rows (where may be "").
func selectRows(c *client.Conn, t *TableMap, s *tableSchema, where string) ([]Row, error) {
	cols := t.MappedColumns()
	q := make([]string, len(cols))
	for i, col := range cols {
		q[i] = ident(col)
	}
	sql := "SELECT " + strings.Join(q, ", ") + " FROM " + ident(t.Name)
	if where != "" {
		sql += " WHERE " + where
	}
	res, err := queryStrings(c, sql)
	if err != nil {
		return nil, err
	}
	out := make([]Row, len(res))
	for i, r := range res {
		row := Row{}
		for j, col := range cols {
			row[strings.ToLower(col)] = r[j]
		}
		out[i] = row
	}
	return out, nil
}

// keyWhere selects rows by their key columns.
func keyWhere(t *TableMap, rows []Row, nb bool) string {
	keys := t.KeyColumns()
	tuples := make([]string, len(rows))
	for i, r := range rows {
		vals := make([]string, len(keys))
		for j, k := range keys {
			vals[j] = quote(str(r[strings.ToLower(k)]), nb)
		}
		tuples[i] = "(" + strings.Join(vals, ", ") + ")"
	}
	if len(keys) == 1 {
		for i := range tuples {
			tuples[i] = tuples[i][1 : len(tuples[i])-1]
		}
		return ident(keys[0]) + " IN (" + strings.Join(tuples, ", ") + ")"
	}
	qk := make([]string, len(keys))
	for i, k := range keys {
		qk[i] = ident(k)
	}
	return "(" + strings.Join(qk, ", ") + ") IN (" + strings.Join(tuples, ", ") + ")"
}

// upsertSQL inserts rows or, when their key exists, updates the mapped
// columns (the others, e.g. Asterisk's registration columns, stay).
func upsertSQL(t *TableMap, s *tableSchema, rows []Row, nb bool) string {
	var b strings.Builder
	b.WriteString(insertSQL(t, s, rows, nb))
	cols := t.MappedColumns()
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	first := true
	for _, c := range cols[len(t.KeyColumns()):] {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(ident(c) + " = VALUES(" + ident(c) + ")")
	}
	if first { // key columns only
		k := ident(cols[0])
		b.WriteString(k + " = " + k)
	}
	return b.String()
}

// value is a row's value of a column as SQL.
func value(s *tableSchema, r Row, c string, nb bool) string {
	v := r[strings.ToLower(c)]
	col, _ := s.col(strings.ToLower(c))
	switch {
	case v != nil:
		return quote(*v, nb)
	case col.Nullable:
		return "NULL"
	}
	return "DEFAULT"
}

// updateSQL sets the mapped columns of the rows with r's key.
func updateSQL(t *TableMap, s *tableSchema, r Row, nb bool) string {
	cols := t.MappedColumns()
	sets := make([]string, 0, len(cols))
	for _, c := range cols[len(t.KeyColumns()):] {
		sets = append(sets, ident(c)+" = "+value(s, r, c, nb))
	}
	return "UPDATE " + ident(t.Name) + " SET " + strings.Join(sets, ", ") + " WHERE " + keyWhere(t, []Row{r}, nb)
}

// insertSQL inserts rows.
func insertSQL(t *TableMap, s *tableSchema, rows []Row, nb bool) string {
	cols := t.MappedColumns()
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(ident(t.Name))
	b.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(c))
	}
	b.WriteString(") VALUES ")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, c := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(value(s, r, c, nb))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// deleteSQL deletes rows by key.
func deleteSQL(t *TableMap, rows []Row, nb bool) string {
	return "DELETE FROM " + ident(t.Name) + " WHERE " + keyWhere(t, rows, nb)
}
