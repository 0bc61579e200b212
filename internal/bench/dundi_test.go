package bench

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/asterisktest"
)

// TestDundiQuick runs the dundi suite in quick mode against the real
// Asterisk: every figure is measured, the in-flight ones side by side with
// Asterisk's (a smoke test; quick figures mean nothing).
func TestDundiQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	asterisktest.Require(t)
	rs, err := Dundi(context.Background(), Env{Dir: t.TempDir(), Quick: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Name] = true
		if strings.Contains(r.Name, "in flight") && r.Anchor != "" && (r.Value <= 0 || r.AnchorValue <= 0 || !strings.HasPrefix(r.Anchor, "Asterisk 22.")) {
			t.Errorf("%s = %v against %s %v", r.Name, r.Value, r.Anchor, r.AnchorValue)
		}
	}
	for _, want := range []string{"DUNDi lookups, 16 in flight, clear", "DUNDi lookups, 64 in flight, clear", "DUNDi lookups, 128 in flight, clear",
		"DUNDi lookups, 256 in flight, clear", "DUNDi lookup p99, 256 in flight, clear",
		"CPU per DUNDi lookup, 16 in flight, server and generator together", "CPU per DUNDi lookup, 256 in flight, server and generator together",
		"DUNDi queries dropped or refused, 1024 in flight (max_lookups), clear"} {
		if !seen[want] {
			t.Errorf("no figure %q in %+v", want, rs)
		}
	}
}
