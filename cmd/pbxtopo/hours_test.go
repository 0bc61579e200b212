package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHoursNowAndDialplan(t *testing.T) {
	dir := sampleStore(t)
	for _, tc := range []struct{ at, want string }{
		{"2026-12-25T15:00:00Z", "closed by CHRISTMAS"},
		{"2028-12-25T15:00:00Z", "closed by CHRISTMAS"},
		{"2026-12-22T19:00:00Z", "open by OPEN"},
		{"2026-12-22T10:00:00Z", "outside every active OPEN rule"},
	} {
		out := mustRun(t, "hours", "now", "USSales", "--data-dir", dir, "--at", tc.at)
		if !strings.Contains(out, tc.want) {
			t.Errorf("at %s:\n%s", tc.at, out)
		}
	}
	if out := mustRun(t, "hours", "dialplan", "USSales", "--data-dir", dir); !strings.Contains(out, "GotoIfTime(00:00-23:59,*,25-26,dec,America/New_York?rule-CHRISTMAS)") {
		t.Errorf("dialplan:\n%s", out)
	}
	for _, args := range [][]string{
		{"hours", "now", "USSales", "--data-dir", dir, "--at", "tomorrow"},
		{"hours", "now", "NoSuchGroup", "--data-dir", dir},
	} {
		if _, errs, code := pbxtopo(t, args...); code == 0 || errs == "" {
			t.Errorf("%v: exit %d %s", args, code, errs)
		}
	}
	// A bad time zone is refused on import, naming the fix.
	bad := filepath.Join(t.TempDir(), "sites.csv")
	os.WriteFile(bad, []byte("name,description,timezone\nxyz,Test,America/New_Yrok\n"), 0o600)
	_, errs, code := pbxtopo(t, "import", "--data-dir", dir, "--table", "sites", bad)
	if code == 0 || !strings.Contains(errs, "America/New_Yrok") || !strings.Contains(errs, "IANA") {
		t.Errorf("bad zone: exit %d %s", code, errs)
	}
}
