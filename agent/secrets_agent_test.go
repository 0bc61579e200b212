package agent_test

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/service"
)

// TestAgentSealsWithItsKeyFile runs a real agent (store through Raft)
// with secrets.key_file: a written SIP secret is in neither the store
// file nor the Raft log, and the agent refuses to start without the key.
func TestAgentSealsWithItsKeyFile(t *testing.T) {
	caDir, dir := filepath.Join(t.TempDir(), "ca"), t.TempDir()
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	k, _ := secrets.NewKey()
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	if err := secrets.WriteFile(keyFile, [][]byte{k}); err != nil {
		t.Fatal(err)
	}
	config := func(withKey bool) agent.Config {
		o := agenttest.Options{DataDir: dir, Extra: map[string]any{"site": "tpa"}}
		if withKey {
			o.Extra["secrets.key_file"] = keyFile
		}
		return agenttest.Config(t, caDir, "tpa1", o)
	}
	a, err := agent.New(config(true), slog.New(slog.DiscardHandler), agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	const secret = "Kp4plaintextAgentSecret"
	admin := service.WithRole(context.Background(), service.RoleAdmin, "test")
	put := func(table string, f pbx.Fields) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := a.Service().Put(admin, table, f, service.PutOptions{})
			if err == nil {
				return
			}
			if time.Now().After(deadline) || !strings.Contains(strings.ToLower(err.Error()), "leader") {
				t.Fatalf("write %s: %v", table, err)
			}
			time.Sleep(50 * time.Millisecond) // Raft electing its first leader
		}
	}
	put("sites", pbx.Fields{"name": "tpa", "timezone": "America/New_York"})
	put("clusters", pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "192.0.2.18"})
	put("extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6101", "name": "Sealed User", "secret": secret})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.Close()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the SIP secret in plaintext", p)
		}
		return nil
	})
	_, err = agent.New(config(false), slog.New(slog.DiscardHandler), agent.Options{})
	if err == nil || !strings.Contains(err.Error(), "secrets.key_file") {
		t.Fatalf("start without the key: %v", err)
	}
}
