package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// AuditLog records what people do that the store's history does not:
// an admin revealing a secret on the web pages. It is a file of JSON
// lines (DATA_DIR/audit.log), appended and synced before the action it
// records is carried out, and each entry is also logged.
type AuditLog struct {
	log *slog.Logger

	mu sync.Mutex
	f  *os.File
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`
	Role   string    `json:"role"`
	Client string    `json:"client,omitempty"`
	Action string    `json:"action"` // e.g. "reveal secret"
	Target string    `json:"target"` // what it was done to, e.g. extensions/sfo/5020
	Detail string    `json:"detail,omitempty"`
}

// ErrNoAuditLog: an action that must be recorded has nowhere to go.
var ErrNoAuditLog = errors.New("no audit log")

// OpenAuditLog opens (or creates, mode 0600) the audit log at path.
func OpenAuditLog(path string, log *slog.Logger) (*AuditLog, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AuditLog{log: log, f: f}, nil
}

// Record appends e and syncs it to disk. Callers carry out the action
// only when it returns nil. A nil AuditLog records nothing and says so.
func (l *AuditLog) Record(e AuditEvent) error {
	if l == nil {
		return ErrNoAuditLog
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrNoAuditLog
	}
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	l.log.Info("audit: "+e.Action, "who", e.Who, "role", e.Role, "client", e.Client, "target", e.Target, "detail", e.Detail)
	return nil
}

// Close closes the file. Safe to call twice.
func (l *AuditLog) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// AuditLog returns the agent's audit log, or nil (a service over a store
// alone).
func (s *Service) AuditLog() *AuditLog { return s.deps.Audit }
