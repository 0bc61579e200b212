package service

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestAuditLogAppendsAndSurvivesReopen: entries are JSON lines, kept
// across a reopen, in a file only its owner reads; a nil log records
// nothing and says so.
func TestAuditLogAppendsAndSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for _, who := range []string{"alice", "bob"} {
		l, err := OpenAuditLog(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Record(AuditEvent{Who: who, Role: "admin", Action: "reveal secret", Target: "extensions/sfo/5020", Detail: "secret"}); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l.Close()
		if err := l.Record(AuditEvent{Who: "late"}); !errors.Is(err, ErrNoAuditLog) {
			t.Fatalf("record after close: %v", err)
		}
	}
	fh, _ := os.Open(path)
	defer fh.Close()
	var who []string
	for sc := bufio.NewScanner(fh); sc.Scan(); {
		var e AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Time.IsZero() {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		who = append(who, e.Who)
	}
	if len(who) != 2 || who[0] != "alice" || who[1] != "bob" {
		t.Fatalf("entries by %v", who)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	var none *AuditLog
	if err := none.Record(AuditEvent{}); !errors.Is(err, ErrNoAuditLog) {
		t.Fatalf("nil log: %v", err)
	}
}
