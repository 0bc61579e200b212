package bench

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
)

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
