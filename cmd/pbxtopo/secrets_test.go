package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

func TestSecretsKeyStoreRotate(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "secrets.key")
	mustRun(t, "secrets", "new-key", "--key-file", keyFile)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if _, errs, code := pbxtopo(t, "secrets", "new-key", "--key-file", keyFile); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("new-key over a key file: %d %s", code, errs)
	}
	t.Setenv("PBXTOPO_SECRETS_KEY_FILE", keyFile)
	dir := sampleStore(t)
	const secret = "hwtMazpRnvuS3VgA" // extension tpa2/5020 in testdata
	if out := mustRun(t, "ext", "get", "tpa2/5020", "--data-dir", dir, "--show-secrets", "-o", "json"); !strings.Contains(out, secret) {
		t.Fatalf("sealed store does not read back:\n%s", out)
	}
	noSecret := func(what string) {
		t.Helper()
		raw, err := os.ReadFile(storeFile(dir))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("%s: the store file holds a SIP secret in plaintext", what)
		}
	}
	noSecret("after import")

	// Without the key: a clear error naming the key config, no data.
	t.Setenv("PBXTOPO_SECRETS_KEY_FILE", "")
	out, errs, code := pbxtopo(t, "ext", "list", "--data-dir", dir)
	if code == 0 || !strings.Contains(errs, "secrets.key_file") || strings.Contains(out+errs, secret) {
		t.Fatalf("no key: exit %d\n%s%s", code, out, errs)
	}

	before, _ := os.ReadFile(keyFile)
	out = mustRun(t, "secrets", "rotate-key", "--key-file", keyFile, "--data-dir", dir)
	if !strings.Contains(out, "re-sealed") {
		t.Fatalf("rotate-key: %s", out)
	}
	after, _ := os.ReadFile(keyFile)
	if bytes.Equal(before, after) || strings.Count(string(after), "# id") != 1 {
		t.Fatalf("key file after rotation:\n%s", after)
	}
	noSecret("after rotation")
	t.Setenv("PBXTOPO_SECRETS_KEY_FILE", keyFile)
	if out := mustRun(t, "ext", "get", "tpa2/5020", "--data-dir", dir, "--show-secrets", "-o", "json"); !strings.Contains(out, secret) {
		t.Fatalf("after rotation:\n%s", out)
	}

	// The Raft cluster procedure: rotate keeping the old key, reseal and
	// drop it.
	mustRun(t, "secrets", "rotate-key", "--key-file", keyFile, "--data-dir", dir, "--keep-old")
	if b, _ := os.ReadFile(keyFile); strings.Count(string(b), "# id") != 2 {
		t.Fatalf("--keep-old:\n%s", b)
	}
	if out := mustRun(t, "secrets", "reseal", "--key-file", keyFile, "--data-dir", dir, "--drop-old"); !strings.Contains(out, "re-sealed 0 values") || !strings.Contains(out, "dropped") {
		t.Fatalf("reseal after rotate: %s", out)
	}
	if b, _ := os.ReadFile(keyFile); strings.Count(string(b), "# id") != 1 {
		t.Fatalf("--drop-old:\n%s", b)
	}
	if out := mustRun(t, "ext", "get", "tpa2/5020", "--data-dir", dir, "--show-secrets", "-o", "json"); !strings.Contains(out, secret) {
		t.Fatalf("after drop-old:\n%s", out)
	}

	// A store written before any key: reseal seals it.
	t.Setenv("PBXTOPO_SECRETS_KEY_FILE", "")
	plainDir := sampleStore(t)
	if out := mustRun(t, "secrets", "reseal", "--key-file", keyFile, "--data-dir", plainDir); strings.Contains(out, "re-sealed 0 values") {
		t.Fatalf("reseal of a plaintext store: %s", out)
	}
	if raw, _ := os.ReadFile(storeFile(plainDir)); bytes.Contains(raw, []byte(secret)) {
		t.Fatal("after reseal, the store file (free pages included) still holds a secret in plaintext")
	}
	t.Setenv("PBXTOPO_SECRETS_KEY_FILE", keyFile)

	// enc: config values.
	val := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(val, []byte("amiPassw0rd\n"), 0o600)
	enc := strings.TrimSpace(mustRun(t, "secrets", "seal", "--from", val))
	if !strings.HasPrefix(enc, "enc:") || strings.Contains(enc, "amiPassw0rd") {
		t.Fatalf("seal: %s", enc)
	}
	a := &app{v: viper.New()}
	a.v.Set("ami.secret", enc)
	a.v.Set("secrets.key_file", keyFile)
	if got, err := a.configSecret("ami.secret"); err != nil || got != "amiPassw0rd" {
		t.Fatalf("configSecret = %q, %v", got, err)
	}
}
