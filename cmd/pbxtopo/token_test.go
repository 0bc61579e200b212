package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/httpapi"
)

// TestTokensAreHashedAtRest: 'token new' shows the token once and the
// tokens file keeps only its hash, which authenticates it; 'token hash'
// turns an older file's clear tokens into hashes, comments kept.
func TestTokensAreHashedAtRest(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	out := mustRun(t, "token", "new", "admin", "alice", "--file", file)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := lines[len(lines)-1]
	data, _ := os.ReadFile(file)
	if len(tok) < 32 || strings.Contains(string(data), tok) || !strings.HasPrefix(string(data), "admin alice sha256:") {
		t.Fatalf("token %q, file %q: want the token shown and only its hash kept", tok, data)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file mode %v, want 0600", fi.Mode().Perm())
	}
	stdout, stderr, code := pbxtopo(t, "token", "new", "read", "noc")
	if code != 0 || !strings.HasPrefix(stdout, "read noc sha256:") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("token new without --file: %d %q %q", code, stdout, stderr)
	}
	second := strings.TrimSpace(stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:])
	if strings.Contains(stdout, second) {
		t.Fatalf("the token is in the line meant for the file: %q", stdout)
	}
	os.WriteFile(file, append(data, []byte(stdout+"# the old way:\noperator bob bob-token-0123456789 # kept\n")...), 0o600)

	tf, err := httpapi.ParseTokens(file)
	if err != nil || len(tf.Tokens) != 3 || len(tf.Clear) != 1 || tf.Clear[0] != "bob" {
		t.Fatalf("ParseTokens = %+v %v", tf, err)
	}
	mustRun(t, "token", "hash", file)
	data, _ = os.ReadFile(file)
	if strings.Contains(string(data), "bob-token-0123456789") || !strings.Contains(string(data), "# the old way:") || !strings.Contains(string(data), "# kept") {
		t.Fatalf("token hash left %q", data)
	}
	tf, err = httpapi.ParseTokens(file)
	if err != nil || len(tf.Tokens) != 3 || len(tf.Clear) != 0 {
		t.Fatalf("after token hash: %+v %v", tf, err)
	}
	auth := httpapi.NewTokenAuth(nil, nil)
	auth.SetTokenHashes(tf.Tokens)
	for tok, want := range map[string]string{tok: "alice", second: "noc", "bob-token-0123456789": "bob"} {
		r := httptest.NewRequest("GET", "/v1/extensions", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if _, who, err := auth.Authenticate(r); err != nil || who != want {
			t.Errorf("token of %s: %q %v", want, who, err)
		}
	}
}
