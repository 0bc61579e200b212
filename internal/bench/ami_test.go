package bench

import (
	"context"
	"testing"
)

// TestAMISuiteQuick runs the ami suite small, so it cannot rot; the
// figures are not judged here.
func TestAMISuiteQuick(t *testing.T) {
	rs, err := Run(context.Background(), []string{"ami"}, Env{Dir: t.TempDir(), Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	for _, r := range rs {
		if r.Value <= 0 {
			t.Errorf("%s: %v %s", r.Name, r.Value, r.Unit)
		}
	}
}
