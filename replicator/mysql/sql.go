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
	return string(appendKeyWhere(nil, t, rows, nb))
}

func appendKeyWhere(b []byte, t *TableMap, rows []Row, nb bool) []byte {
	keys := t.KeyColumns()
	if len(keys) > 1 {
		b = append(b, '(')
	}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, ident(k)...)
	}
	if len(keys) > 1 {
		b = append(b, ')')
	}
	b = append(b, " IN ("...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ", "...)
		}
		if len(keys) > 1 {
			b = append(b, '(')
		}
		for j, k := range keys {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = appendQuote(b, str(r[strings.ToLower(k)]), nb)
		}
		if len(keys) > 1 {
			b = append(b, ')')
		}
	}
	return append(b, ')')
}

// upsertSQL inserts rows or, when their key exists, updates the mapped
// columns (the others, e.g. Asterisk's registration columns, stay).
func upsertSQL(t *TableMap, s *tableSchema, rows []Row, nb bool) string {
	b := appendInsert(nil, t, s, rows, nb)
	cols := t.MappedColumns()
	b = append(b, " ON DUPLICATE KEY UPDATE "...)
	first := true
	for _, c := range cols[len(t.KeyColumns()):] {
		if !first {
			b = append(b, ", "...)
		}
		first = false
		q := ident(c)
		b = append(b, q...)
		b = append(b, " = VALUES("...)
		b = append(b, q...)
		b = append(b, ')')
	}
	if first { // key columns only
		k := ident(cols[0])
		b = append(b, k...)
		b = append(b, " = "...)
		b = append(b, k...)
	}
	return string(b)
}

// sqlColumn is what writing a value of a mapped column needs, looked up
// once per statement rather than once per value.
type sqlColumn struct {
	name     string // lower case, as rows hold it
	nullable bool
}

func sqlColumns(s *tableSchema, cols []string) []sqlColumn {
	out := make([]sqlColumn, len(cols))
	for i, c := range cols {
		lc := strings.ToLower(c)
		col, _ := s.col(lc)
		out[i] = sqlColumn{lc, col.Nullable}
	}
	return out
}

// appendValue appends a row's value of a column as SQL.
func appendValue(b []byte, r Row, c sqlColumn, nb bool) []byte {
	switch v := r[c.name]; {
	case v != nil:
		return appendQuote(b, *v, nb)
	case c.nullable:
		return append(b, "NULL"...)
	}
	return append(b, "DEFAULT"...)
}

// updateSQL sets the mapped columns of the rows with r's key.
func updateSQL(t *TableMap, s *tableSchema, r Row, nb bool) string {
	cols := t.MappedColumns()[len(t.KeyColumns()):]
	b := append([]byte("UPDATE "), ident(t.Name)...)
	b = append(b, " SET "...)
	for i, c := range sqlColumns(s, cols) {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, ident(cols[i])...)
		b = append(b, " = "...)
		b = appendValue(b, r, c, nb)
	}
	b = append(b, " WHERE "...)
	return string(appendKeyWhere(b, t, []Row{r}, nb))
}

// insertSQL inserts rows.
func insertSQL(t *TableMap, s *tableSchema, rows []Row, nb bool) string {
	return string(appendInsert(nil, t, s, rows, nb))
}

// appendInsert appends an INSERT of rows: one statement, one buffer.
func appendInsert(b []byte, t *TableMap, s *tableSchema, rows []Row, nb bool) []byte {
	cols := t.MappedColumns()
	if b == nil {
		// About 16 bytes a column a row: one allocation for most batches.
		b = make([]byte, 0, 64+16*len(cols)*(len(rows)+1))
	}
	b = append(b, "INSERT INTO "...)
	b = append(b, ident(t.Name)...)
	b = append(b, " ("...)
	for i, c := range cols {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, ident(c)...)
	}
	b = append(b, ") VALUES "...)
	sc := sqlColumns(s, cols)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '(')
		for j, c := range sc {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = appendValue(b, r, c, nb)
		}
		b = append(b, ')')
	}
	return b
}

// deleteSQL deletes rows by key.
func deleteSQL(t *TableMap, rows []Row, nb bool) string {
	b := append([]byte("DELETE FROM "), ident(t.Name)...)
	b = append(b, " WHERE "...)
	return string(appendKeyWhere(b, t, rows, nb))
}
