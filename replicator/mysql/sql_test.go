package mysql

import (
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// A column NULL in every row of an upsert is left out of the INSERT only
// when leaving it out stores NULL; an update still clears it.
func TestUpsertLeavesOutNullColumns(t *testing.T) {
	db := newDB(t, "CREATE TABLE w (cl VARCHAR(20) NOT NULL, n VARCHAR(20) NOT NULL, a VARCHAR(20) NULL, "+
		"b VARCHAR(20) NULL DEFAULT 'x', c VARCHAR(20) NULL DEFAULT NULL, d VARCHAR(20) NOT NULL DEFAULT 'y', PRIMARY KEY (cl, n))")
	tm := &TableMap{Name: "w", Store: pbx.Extensions, ClusterColumn: "cl", NumberColumn: "n", Primary: true,
		Columns: []Column{{Name: "a", Field: "name"}, {Name: "b", Field: "context"}, {Name: "c", Field: "secret"}, {Name: "d", Field: "allow"}}}
	if err := tm.check(); err != nil {
		t.Fatal(err)
	}
	c, err := server.Conn(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := loadSchema(c, db, "w")
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := c.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	full := Row{"cl": strp("tpa1"), "n": strp("1"), "a": strp("A"), "b": strp("B"), "c": strp("C"), "d": strp("D")}
	exec(upsertSQL(tm, s, []Row{full}, false))
	bare := Row{"cl": strp("tpa1"), "n": strp("1")}
	q := upsertSQL(tm, s, []Row{bare, {"cl": strp("tpa1"), "n": strp("2")}}, false)
	if want := "INSERT INTO `w` (`cl`, `n`, `b`, `d`) VALUES ('tpa1', '1', NULL, DEFAULT), ('tpa1', '2', NULL, DEFAULT) " +
		"ON DUPLICATE KEY UPDATE `a` = NULL, `b` = VALUES(`b`), `c` = NULL, `d` = VALUES(`d`)"; q != want {
		t.Errorf("upsert\n%s, want\n%s", q, want)
	}
	exec(q)
	got := sqlRows(t, db, "SELECT n, a, b, c, d FROM w ORDER BY n")
	want := [][]string{{"1", "NULL", "NULL", "NULL", "y"}, {"2", "NULL", "NULL", "NULL", "y"}}
	if len(got) != 2 || strings.Join(got[0], ",") != strings.Join(want[0], ",") || strings.Join(got[1], ",") != strings.Join(want[1], ",") {
		t.Errorf("rows %v, want %v\n%s", got, want, q)
	}
}
