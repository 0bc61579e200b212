package logbridge

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLevels(t *testing.T) {
	for line, want := range map[string]slog.Level{
		"2024/01/01 [ERR] memberlist: failed":   slog.LevelError,
		"[ERROR] raft: failed to contact":       slog.LevelError,
		"[WARN] serf: event queue depth":        slog.LevelWarn,
		"[DEBUG] memberlist: stream connection": slog.LevelDebug,
		"[TRACE] raft: heartbeat":               slog.LevelDebug,
		"[INFO] raft: entering leader state":    slog.LevelInfo,
	} {
		if got := Level(line); got != want {
			t.Errorf("Level(%q) = %v, want %v", line, got, want)
		}
	}
	var buf bytes.Buffer
	w := Writer(slog.New(slog.NewTextHandler(&buf, nil)), "gossip")
	w.Write([]byte("[WARN] memberlist: was able to connect\n"))
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "subsystem=gossip") {
		t.Fatalf("logged %q", out)
	}
}
