package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

// TestReplSuiteQuick runs the repl suite small, with its MariaDB ring
// anchor when MariaDB is installed, so it cannot rot.
func TestReplSuiteQuick(t *testing.T) {
	rs, err := Run(context.Background(), []string{"repl"}, Env{Dir: t.TempDir(), Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	PrintTable(&sb, rs)
	t.Log("\n" + sb.String())
	found, pages := false, false
	for _, r := range rs {
		found = found || strings.HasPrefix(r.Name, "MariaDB ring of 3")
		pages = pages || strings.HasPrefix(r.Name, "pbxtopo mesh of 3") && strings.Contains(r.Note, "pages per change")
	}
	if !found {
		t.Fatal("no MariaDB ring rows")
	}
	if !pages {
		t.Error("the mesh's row does not say how many pages the stores wrote per change")
	}
}

// A replica that never receives the changes fails the lag measurement:
// no figure is made from the changes that did arrive.
func TestReplLagFailsWhenChangesNeverArrive(t *testing.T) {
	f, err := replThroughput(context.Background(), Env{Dir: t.TempDir()},
		replShape{mode: replicator.Mesh, replicas: 3, settle: time.Second, cut: 2}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if f.err == nil || !strings.Contains(f.err.Error(), "r2 holds 0") {
		t.Fatalf("flow %+v: want a failure naming r2", f)
	}
	for _, r := range f.rows("mesh", "changes/s", "", "")[1:] {
		if r.Error == "" || r.Value != 0 {
			t.Errorf("row %+v: want a failure", r)
		}
	}
}
