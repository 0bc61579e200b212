package bench

import (
	"context"
	"strings"
	"testing"
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
	for _, r := range rs {
		t.Logf("%s: %s", r.Name, r.Note)
	}
	found := false
	for _, r := range rs {
		found = found || strings.HasPrefix(r.Name, "MariaDB ring of 3")
	}
	if !found {
		t.Fatal("no MariaDB ring rows")
	}
}
