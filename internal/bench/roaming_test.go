package bench

import (
	"context"
	"testing"
)

// A smoke test of the roaming suite at the quick size: every figure is
// there and measured (the figures themselves are not judged here).
func TestRoamingSuiteQuick(t *testing.T) {
	rs, err := Run(context.Background(), []string{"roaming"}, Env{Dir: t.TempDir(), Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 6 {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	for _, r := range rs {
		if r.Value <= 0 || r.Suite != "roaming" {
			t.Errorf("%+v", r)
		}
	}
	if rs[0].Note == "0 rows" || rs[2].Note == "0 findings" || rs[4].Note == "0 numbers answered" {
		t.Errorf("empty results: %q %q %q", rs[0].Note, rs[2].Note, rs[4].Note)
	}
}
