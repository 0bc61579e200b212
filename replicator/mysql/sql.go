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
	b, sc := appendInsert(nil, t, s, rows, nb)
	b = append(b, " ON DUPLICATE KEY UPDATE "...)
	first := true
	for _, c := range sc[len(t.KeyColumns()):] {
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(b, c.ident...)
		if c.omitted {
			b = append(b, " = NULL"...)
			continue
		}
		b = append(b, " = VALUES("...)
		b = append(b, c.ident...)
		b = append(b, ')')
	}
	if first { // key columns only
		b = append(b, sc[0].ident...)
		b = append(b, " = "...)
		b = append(b, sc[0].ident...)
	}
	return string(b)
}

// sqlColumn is what writing a value of a mapped column needs, looked up
// once per statement rather than once per value.
type sqlColumn struct {
	name     string // lower case, as rows hold it
	ident    string
	nullable bool
	omitted  bool // left out of the INSERT: NULL in every row, and NULL by default
}

// sqlColumns returns the mapped columns cols for writing rows: a column
// that is NULL in every row and stores NULL when left out is marked
// omitted. The rows of a wide table (the guide's 66 columns) set a few
// columns each: MariaDB spent a third more CPU on a 1,000-row upsert that
// listed them all.
func sqlColumns(t *TableMap, s *tableSchema, cols []string, rows []Row) []sqlColumn {
	out := make([]sqlColumn, len(cols))
	keys := len(t.KeyColumns())
	for i, c := range cols {
		lc := strings.ToLower(c)
		col, _ := s.col(lc)
		out[i] = sqlColumn{name: lc, ident: ident(c), nullable: col.Nullable}
		if i < keys || rows == nil || !col.NullDefault {
			continue
		}
		out[i].omitted = true
		for _, r := range rows {
			if r[lc] != nil {
				out[i].omitted = false
				break
			}
		}
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
	for i, c := range sqlColumns(t, s, cols, nil) {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, c.ident...)
		b = append(b, " = "...)
		b = appendValue(b, r, c, nb)
	}
	b = append(b, " WHERE "...)
	return string(appendKeyWhere(b, t, []Row{r}, nb))
}

// insertSQL inserts rows.
func insertSQL(t *TableMap, s *tableSchema, rows []Row, nb bool) string {
	b, _ := appendInsert(nil, t, s, rows, nb)
	return string(b)
}

// appendInsert appends an INSERT of rows, one statement in one buffer,
// and returns the columns as it wrote them.
func appendInsert(b []byte, t *TableMap, s *tableSchema, rows []Row, nb bool) ([]byte, []sqlColumn) {
	cols := t.MappedColumns()
	if b == nil {
		// About 16 bytes a column a row: one allocation for most batches.
		b = make([]byte, 0, 64+16*len(cols)*(len(rows)+1))
	}
	sc := sqlColumns(t, s, cols, rows)
	listed := make([]sqlColumn, 0, len(sc))
	for _, c := range sc {
		if !c.omitted {
			listed = append(listed, c)
		}
	}
	b = append(b, "INSERT INTO "...)
	b = append(b, ident(t.Name)...)
	b = append(b, " ("...)
	for i, c := range listed {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, c.ident...)
	}
	b = append(b, ") VALUES "...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '(')
		for j, c := range listed {
			if j > 0 {
				b = append(b, ", "...)
			}
			b = appendValue(b, r, c, nb)
		}
		b = append(b, ')')
	}
	return b, sc
}

// deleteSQL deletes rows by key.
func deleteSQL(t *TableMap, rows []Row, nb bool) string {
	b := append([]byte("DELETE FROM "), ident(t.Name)...)
	b = append(b, " WHERE "...)
	return string(appendKeyWhere(b, t, rows, nb))
}
