package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
)

// column is what the bridge knows of one MySQL column.
type column struct {
	Name     string // lower case
	DataType string // information_schema DATA_TYPE: varchar, int, enum...
	Unsigned bool
	Nullable bool
	Enum     []string // enum and set members
	Type     string   // information_schema COLUMN_TYPE: varchar(40), enum('yes','no')
	CharMax  int64    // the most characters a text column holds (0: not text)
	Default  bool     // it has a default (or is auto_increment)
	// NullDefault: an INSERT that leaves the column out stores NULL (it is
	// nullable and its default is NULL), so a multi-row INSERT may leave
	// out a column that is NULL in every row.
	NullDefault bool
}

// tableSchema is a MySQL table's columns in ordinal order.
type tableSchema struct {
	Name  string
	Cols  []column
	index map[string]int
	// unique: a unique key covers exactly the mapping's key columns, so
	// upserts are INSERT ... ON DUPLICATE KEY UPDATE; without one (Asterisk's
	// voicemail table) the bridge updates the rows it finds and inserts
	// the others.
	unique bool
}

func (s *tableSchema) col(name string) (column, bool) {
	i, ok := s.index[name]
	if !ok {
		return column{}, false
	}
	return s.Cols[i], true
}

// mappable reports whether a column type carries text the bridge can map.
func mappable(dataType string) bool {
	switch dataType {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext",
		"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "float", "double",
		"enum", "set", "date", "time", "datetime", "timestamp", "year",
		"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return true
	}
	return false
}

func connect(ctx context.Context, d DSN) (*client.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(cctx, d.Addr, d.User, d.Password, d.Database, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", d, err)
	}
	if err := c.SetCharset("utf8mb4"); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to %s: %w", d, err)
	}
	return c, nil
}

// queryStrings runs a query and returns its rows as strings (nil = NULL).
func queryStrings(c *client.Conn, q string) ([][]*string, error) {
	r, err := c.Execute(q)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Resultset == nil {
		return nil, nil
	}
	out := make([][]*string, r.RowNumber())
	for i := range out {
		row := make([]*string, r.ColumnNumber())
		for j := range row {
			if null, _ := r.IsNull(i, j); null {
				continue
			}
			s, err := r.GetString(i, j)
			if err != nil {
				return nil, err
			}
			// go-mysql's strings share its read buffer: copy them.
			s = strings.Clone(s)
			row[j] = &s
		}
		out[i] = row
	}
	return out, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// loadSchema reads a table's columns from information_schema.
func loadSchema(c *client.Conn, db, table string) (*tableSchema, error) {
	rows, err := queryStrings(c, fmt.Sprintf(
		"SELECT LOWER(COLUMN_NAME), LOWER(DATA_TYPE), LOWER(COLUMN_TYPE), IS_NULLABLE, IFNULL(CHARACTER_MAXIMUM_LENGTH, 0), "+
			"COLUMN_DEFAULT IS NOT NULL OR EXTRA LIKE '%%auto_increment%%', "+
			// MariaDB spells a NULL default 'NULL' (a string default is
			// quoted there); MySQL gives SQL NULL.
			"IS_NULLABLE = 'YES' AND EXTRA = '' AND (COLUMN_DEFAULT IS NULL OR (COLUMN_DEFAULT = 'NULL' AND VERSION() LIKE '%%MariaDB%%')) "+
			"FROM information_schema.COLUMNS "+
			"WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", quote(db, false), quote(table, false)))
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: table %s.%s does not exist; create it (see docs/operator-guide.md: MySQL realtime bridge)", ErrServer, db, table)
	}
	s := &tableSchema{Name: table, index: map[string]int{}}
	for i, r := range rows {
		col := column{Name: str(r[0]), DataType: str(r[1]), Nullable: str(r[3]) == "YES", Type: str(r[2]), Default: str(r[5]) == "1",
			NullDefault: str(r[6]) == "1"}
		col.CharMax, _ = strconv.ParseInt(str(r[4]), 10, 64)
		ct := str(r[2])
		col.Unsigned = strings.Contains(ct, "unsigned")
		if col.DataType == "enum" || col.DataType == "set" {
			col.Enum = parseEnum(ct)
		}
		s.Cols = append(s.Cols, col)
		s.index[col.Name] = i
	}
	return s, nil
}

// parseEnum reads the members of "enum('a','b')" or "set('x','y')".
func parseEnum(ct string) []string {
	open := strings.IndexByte(ct, '(')
	if open < 0 || !strings.HasSuffix(ct, ")") {
		return nil
	}
	body := ct[open+1 : len(ct)-1]
	var out []string
	for i := 0; i < len(body); {
		if body[i] != '\'' {
			i++
			continue
		}
		var b strings.Builder
		j := i + 1
		for ; j < len(body); j++ {
			if body[j] == '\'' {
				if j+1 < len(body) && body[j+1] == '\'' {
					b.WriteByte('\'')
					j++
					continue
				}
				break
			}
			b.WriteByte(body[j])
		}
		out = append(out, b.String())
		i = j + 1
	}
	return out
}

// checkTable verifies that a mapped table has every mapped column with a
// type the bridge can map, and notes whether a unique key covers its key
// columns.
func checkTable(c *client.Conn, db string, t *TableMap, s *tableSchema) error {
	for _, name := range t.MappedColumns() {
		col, ok := s.col(strings.ToLower(name))
		if !ok {
			return fmt.Errorf("%w: table %s has no column %s, which the mapping needs; add it or choose another mysql.mapping", ErrServer, t.Name, name)
		}
		if !mappable(col.DataType) {
			return fmt.Errorf("%w: table %s column %s has type %s, which cannot hold a pbx field; change the column to varchar or leave it out of the mapping", ErrUnmappable, t.Name, name, col.DataType)
		}
	}
	rows, err := queryStrings(c, fmt.Sprintf(
		"SELECT INDEX_NAME, LOWER(COLUMN_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX",
		quote(db, false), quote(t.Name, false)))
	if err != nil {
		return fmt.Errorf("read the keys of %s: %w", t.Name, err)
	}
	idx := map[string][]string{}
	for _, r := range rows {
		idx[str(r[0])] = append(idx[str(r[0])], str(r[1]))
	}
	want := t.KeyColumns()
	s.unique = false
	for _, cols := range idx {
		if sameSet(cols, want) {
			s.unique = true
		}
	}
	return nil
}

// checkValue reports why a column cannot hold a value ("" if it can).
func (col column) checkValue(v *string) string {
	if v == nil {
		if !col.Nullable && !col.Default {
			return fmt.Sprintf("%s is NOT NULL and has no default, and the record has no value for it", col.Name)
		}
		return ""
	}
	switch col.DataType {
	case "enum":
		for _, m := range col.Enum {
			if strings.EqualFold(m, *v) {
				return ""
			}
		}
		return fmt.Sprintf("%s is %s: %q is not one of its values", col.Name, col.Type, *v)
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		if _, err := strconv.ParseInt(strings.TrimSpace(*v), 10, 64); err != nil {
			return fmt.Sprintf("%s is %s: %q is not a whole number", col.Name, col.Type, *v)
		}
	case "decimal", "float", "double":
		if _, err := strconv.ParseFloat(strings.TrimSpace(*v), 64); err != nil {
			return fmt.Sprintf("%s is %s: %q is not a number", col.Name, col.Type, *v)
		}
	}
	if n := int64(utf8.RuneCountInString(*v)); col.CharMax > 0 && n > col.CharMax {
		return fmt.Sprintf("%s holds at most %d characters (%s); the value has %d", col.Name, col.CharMax, col.Type, n)
	}
	return ""
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range b {
		found := false
		for _, y := range a {
			if strings.EqualFold(x, y) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// ident quotes a MySQL identifier.
func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// quote returns a MySQL string literal. Quotes are doubled, which every
// sql_mode reads; backslashes are doubled unless NO_BACKSLASH_ESCAPES is on.
func quote(s string, noBackslash bool) string {
	return string(appendQuote(make([]byte, 0, len(s)+2), s, noBackslash))
}

// appendQuote appends s as a quoted SQL string (see quote).
func appendQuote(b []byte, s string, noBackslash bool) []byte {
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\'':
			b = append(b, "''"...)
		case '\\':
			if noBackslash {
				b = append(b, '\\')
			} else {
				b = append(b, `\\`...)
			}
		case 0:
			if noBackslash {
				b = append(b, 0)
			} else {
				b = append(b, `\0`...)
			}
		default:
			b = append(b, ch)
		}
	}
	return append(b, '\'')
}

// binlogValue turns one value of a row event that is not NULL into text,
// or an error naming the column. The text may share the event's buffer.
func binlogValue(v any, col column) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x // may share the event's buffer: the caller copies it
	case []byte:
		if !utf8.Valid(x) {
			return "", fmt.Errorf("column %s holds bytes that are not UTF-8", col.Name)
		}
		s = string(x)
	case int8:
		s = signed(int64(x), uint64(uint8(x)), col)
	case int16:
		s = signed(int64(x), uint64(uint16(x)), col)
	case int32:
		if col.DataType == "mediumint" && col.Unsigned && x < 0 {
			s = strconv.FormatUint(uint64(uint32(x)&0xffffff), 10)
		} else {
			s = signed(int64(x), uint64(uint32(x)), col)
		}
	case int64:
		switch col.DataType {
		case "enum":
			if x == 0 {
				s = ""
			} else if int(x) <= len(col.Enum) {
				s = col.Enum[x-1]
			} else {
				return "", fmt.Errorf("column %s: enum value %d has no member", col.Name, x)
			}
		case "set":
			var parts []string
			for i, m := range col.Enum {
				if x&(1<<i) != 0 {
					parts = append(parts, m)
				}
			}
			s = strings.Join(parts, ",")
		default:
			s = signed(x, uint64(x), col)
		}
	case int:
		s = strconv.Itoa(x)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case fmt.Stringer:
		s = x.String()
	default:
		return "", fmt.Errorf("column %s: values of type %T cannot be mapped", col.Name, v)
	}
	return s, nil
}

func signed(v int64, u uint64, col column) string {
	if col.Unsigned {
		return strconv.FormatUint(u, 10)
	}
	return strconv.FormatInt(v, 10)
}

// flavor returns go-mysql's flavor for a server version string.
func flavor(version string) string {
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return gmysql.MariaDBFlavor
	}
	return gmysql.MySQLFlavor
}
