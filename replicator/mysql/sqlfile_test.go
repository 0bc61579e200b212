package mysql

import (
	"os"
	"strings"
	"testing"
)

// guide.sql is what admins run to create the guide's table; it must be
// what the bridge expects.
func TestGuideSQLFileIsCurrent(t *testing.T) {
	want := "-- The cluster manager guide's 66-field extensions table (section 4.0.4), as the\n" +
		"-- pbxtopo MySQL bridge's guide mapping expects it. Generated from GuideDDL().\n" + GuideDDL() + ";\n"
	got, err := os.ReadFile("guide.sql")
	if os.Getenv("PBXTOPO_UPDATE_SQL") != "" {
		if err := os.WriteFile("guide.sql", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil || string(got) != want {
		t.Fatalf("guide.sql is stale or missing (%v): run PBXTOPO_UPDATE_SQL=1 go test -run GuideSQL ./replicator/mysql", err)
	}
	if !strings.Contains(want, "`call-limit` int(2)") {
		t.Fatal("guide.sql lacks call-limit")
	}
}
