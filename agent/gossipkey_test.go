package agent_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/internal/pki"
)

// TestGossipKeyIsRequired: without a key the membership travels in clear
// and any host joins it, so an agent refuses to start, unless
// gossip.insecure says it is meant or the keyring of an earlier start
// (key rotation) holds the keys.
func TestGossipKeyIsRequired(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	start := func(dir string, extra map[string]any) error {
		a, err := agent.New(agenttest.Config(t, caDir, "tpa1", agenttest.Options{DataDir: dir, Extra: extra}), slog.New(slog.DiscardHandler), agent.Options{})
		if err == nil {
			a.Close()
		}
		return err
	}
	err := start(t.TempDir(), map[string]any{"gossip.key": ""})
	if err == nil || !strings.Contains(err.Error(), "gossip.key is empty") || !strings.Contains(err.Error(), "pbxtopo gossip keygen") {
		t.Fatalf("no gossip key: %v, want a startup error that says how to make one", err)
	}
	if err := start(t.TempDir(), map[string]any{"gossip.key": "", "gossip.insecure": true}); err != nil {
		t.Fatalf("gossip.insecure: %v", err)
	}
	dir := t.TempDir() // the keyring a rotation ('pbxtopo gossip keys') leaves
	os.WriteFile(filepath.Join(dir, "gossip.keyring"), []byte(`["`+agenttest.GossipKey()+`"]`), 0o600)
	if err := start(dir, map[string]any{"gossip.key": ""}); err != nil {
		t.Fatalf("with the keyring of an earlier start: %v", err)
	}
}
