package asteriskdb

import (
	"os"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
)

func startServer(t *testing.T) *mariadbtest.Server {
	t.Helper()
	if err := mariadbtest.Available(); err != nil {
		t.Skipf("MariaDB is missing: %v", err)
	}
	s, err := mariadbtest.Start(t.TempDir(), mariadbtest.Options{ServerID: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// layout lists what a database holds: every column with its type,
// nullability and extra, every key and foreign key, and the alembic
// version.
func layout(t *testing.T, s *mariadbtest.Server, db string) []string {
	t.Helper()
	c, err := s.Conn(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []string
	for _, q := range []string{
		"SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '-'), EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '" + db + "' ORDER BY TABLE_NAME, ORDINAL_POSITION",
		"SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '" + db + "' GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE ORDER BY TABLE_NAME, INDEX_NAME",
		"SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME, CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = '" + db + "' AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY 1, 2",
		"SELECT version_num FROM alembic_version",
	} {
		out = append(out, rows(t, c, q)...)
	}
	return out
}

func rows(t *testing.T, c *client.Conn, q string) []string {
	t.Helper()
	r, err := c.Execute(q)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for i := 0; i < r.RowNumber(); i++ {
		var cells []string
		for j := 0; j < r.ColumnNumber(); j++ {
			v, _ := r.GetString(i, j)
			cells = append(cells, v)
		}
		out = append(out, strings.Join(cells, " | "))
	}
	return out
}

// The description makes the same tables, columns, keys and version as
// Asterisk's own file, whenever that file is at hand.
func TestDescriptionMatchesAsterisksFile(t *testing.T) {
	described, err := Described()
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	if err := s.Exec("", "CREATE DATABASE described"); err != nil {
		t.Fatal(err)
	}
	if err := described.Create(func(q ...string) error { return s.Exec("described", q...) }); err != nil {
		t.Fatal(err)
	}
	got := layout(t, s, "described")
	if len(got) < 670 {
		t.Fatalf("the description made only %d lines of columns and keys", len(got))
	}
	for _, want := range []string{"sippeers | name | varchar(40) | NO", "ps_endpoints | dtmf_mode | enum('rfc4733','inband','info','auto','auto_info')",
		"voicemail | password | varchar(80) | NO", "extensions | context | 0 | context,exten,priority", "bb6d54e22913"} {
		if !contains(got, want) {
			t.Errorf("the described tables lack %q", want)
		}
	}
	path, err := File()
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		t.Logf("not compared with Asterisk's own file: put contrib/realtime/mysql/mysql_config.sql of Asterisk 22.8.0 at %s or name it with %s", sharedFile, EnvVar)
		return
	}
	file, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Exec("", "CREATE DATABASE fromfile"); err != nil {
		t.Fatal(err)
	}
	if err := file.Create(func(q ...string) error { return s.Exec("fromfile", q...) }); err != nil {
		t.Fatal(err)
	}
	want := layout(t, s, "fromfile")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		for i := 0; i < max(len(got), len(want)); i++ {
			g, w := at(got, i), at(want, i)
			if g != w {
				t.Fatalf("%s: first difference at line %d: described %q, file %q", path, i, g, w)
			}
		}
	}
	t.Logf("the description matches %s: %d columns and keys", path, len(want))
}

func contains(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) || strings.Contains(s, prefix) {
			return true
		}
	}
	return false
}

func at(list []string, i int) string {
	if i < len(list) {
		return list[i]
	}
	return "(none)"
}

func TestSplitSQL(t *testing.T) {
	got := SplitSQL("-- a comment; not a statement\nCREATE TABLE a (x ENUM('a;b'));\n\nINSERT INTO a VALUES ('it''s; \\' here');\nUPDATE a SET x='y'")
	want := []string{"CREATE TABLE a (x ENUM('a;b'))", "INSERT INTO a VALUES ('it''s; \\' here')", "UPDATE a SET x='y'"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q", got)
	}
}

func TestRenderRefusesBadLines(t *testing.T) {
	for _, desc := range []string{"", "  x int", "table a\nx int", "table a;b", "table a\n  x int; DROP TABLE b", "version x'y"} {
		if _, err := Render(desc); err == nil {
			t.Errorf("Render(%q) took it", desc)
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add(description)
	f.Add("table a\n  x varchar(3) not null\n  primary (x)\n")
	f.Fuzz(func(t *testing.T, desc string) {
		stmts, err := Render(desc)
		if err != nil {
			return
		}
		for _, s := range stmts {
			if strings.Contains(s, ";") {
				t.Fatalf("a rendered statement holds ';': %q", s)
			}
		}
	})
}

func FuzzSplitSQL(f *testing.F) {
	f.Add("CREATE TABLE a (x INT);\n-- c\nINSERT INTO a VALUES (1);")
	if b, err := os.ReadFile("asterisk22.tables"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, script string) {
		for _, s := range SplitSQL(script) {
			if s == "" || s != strings.TrimSpace(s) {
				t.Fatalf("statement %q", s)
			}
		}
	})
}
