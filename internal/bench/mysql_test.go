package bench

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
)

// TestMySQLSuiteQuick runs the mysql suite small, so it cannot rot: rows
// reach cluster B's MariaDB through the replicators' own transport, and
// every row has a figure.
func TestMySQLSuiteQuick(t *testing.T) {
	if err := mariadbtest.Available(); err != nil {
		t.Skip(err) // the message names the package to install
	}
	rep, err := RunReport(context.Background(), []string{"mysql"}, Env{Dir: t.TempDir(), Quick: true})
	rs := rep.Results
	var sb strings.Builder
	PrintTable(&sb, rs)
	t.Log("\n" + sb.String())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range rs {
		names[r.Name] = true
		if r.Value <= 0 {
			t.Errorf("%s: %v %s", r.Name, r.Value, r.Unit)
		}
	}
	for _, want := range []string{"binlog rows into the store (1000-row transactions)", "MariaDB master-master, A to B",
		"bridge A, replication transport, bridge B", "end-to-end p99 lag, bridged"} {
		if !names[want] {
			t.Errorf("no row %q", want)
		}
	}
	if p := rep.Suites[0].Params["bridged_path"]; !strings.Contains(p.(string), "HTTP/2 mTLS") {
		t.Errorf("bridged_path %v", p)
	}
}

// TestMySQLToAsteriskQuick measures a few extensions from 'ext set' at
// one agent to 'pjsip show endpoint' at the other cluster's real Asterisk,
// beside MariaDB's own replication of the same rows (a smoke test; quick
// figures mean nothing).
func TestMySQLToAsteriskQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if err := mariadbtest.Available(); err != nil {
		t.Skipf("MariaDB is missing: %v", err)
	}
	asterisktest.Require(t)
	rs, err := mysqlToAsterisk(context.Background(), Env{Dir: t.TempDir(), Quick: true, Log: slog.New(slog.DiscardHandler)}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("results %+v", rs)
	}
	for _, r := range rs {
		if r.Value <= 0 || r.AnchorValue <= 0 || !strings.HasPrefix(r.Anchor, "MariaDB master-master") {
			t.Errorf("%s = %v s against %s %v s", r.Name, r.Value, r.Anchor, r.AnchorValue)
		}
		t.Logf("%s: %.3f s (%s: %.3f s) %s", r.Name, r.Value, r.Anchor, r.AnchorValue, r.Note)
	}
}
