// Package logbridge turns the log lines of the libraries that write text
// ("[WARN] memberlist: ...", hclog's "[ERROR] raft: ...") into slog
// records at the matching level, so every line an agent logs is
// structured and leveled. Serf, memberlist and Raft use it.
package logbridge

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
)

// Writer returns a writer that logs each line written to it on l, with
// the subsystem attribute, at the level its "[LEVEL]" tag names (info
// without one).
func Writer(l *slog.Logger, subsystem string) io.Writer { return writer{l, subsystem} }

type writer struct {
	l         *slog.Logger
	subsystem string
}

func (w writer) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	w.l.Log(context.Background(), Level(line), line, "subsystem", w.subsystem)
	return len(p), nil
}

// Level is the level a line's tag names: [TRACE] and [DEBUG] debug, [WARN]
// warn, [ERR] and [ERROR] error, anything else info.
func Level(line string) slog.Level {
	switch {
	case strings.Contains(line, "[ERR]"), strings.Contains(line, "[ERROR]"):
		return slog.LevelError
	case strings.Contains(line, "[WARN]"):
		return slog.LevelWarn
	case strings.Contains(line, "[DEBUG]"), strings.Contains(line, "[TRACE]"):
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
