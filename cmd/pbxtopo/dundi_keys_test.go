package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/roaming/dundi"
)

func TestDundiKeysCreateRotate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	key, pub := filepath.Join(dir, "pbxtopo-tpa1.key"), filepath.Join(dir, "pbxtopo-tpa1.pub")
	out := mustRun(t, "dundi", "keys", "create", "--cluster", "tpa1", "--dir", dir)
	if !strings.Contains(out, "fingerprint sha256:") {
		t.Fatalf("create: %s", out)
	}
	check := func() {
		t.Helper()
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("private key mode: %v %v", fi, err)
		}
		priv, err := dundi.LoadPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := dundi.LoadPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if !priv.PublicKey.Equal(pk) {
			t.Fatal("the .pub is not the .key's public half")
		}
	}
	check()
	if _, errs, code := pbxtopo(t, "dundi", "keys", "create", "--cluster", "tpa1", "--dir", dir); code == 0 || !strings.Contains(errs, "rotate") {
		t.Fatalf("create over a pair: %d %s", code, errs)
	}
	before, _ := os.ReadFile(key)
	mustRun(t, "dundi", "keys", "rotate", "--cluster", "tpa1", "--dir", dir)
	check()
	after, _ := os.ReadFile(key)
	old, _ := os.ReadFile(key + ".old")
	if bytes.Equal(before, after) || !bytes.Equal(before, old) {
		t.Fatal("rotate must make a new pair and keep the previous one as .old")
	}
	if fi, err := os.Stat(key + ".old"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("old private key mode: %v %v", fi, err)
	}
	if _, err := dundi.LoadPublicKey(pub + ".old"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"dundi", "keys", "rotate", "--cluster", "sfo", "--dir", dir},
		{"dundi", "keys", "create", "--cluster", "Bad Name", "--dir", dir},
	} {
		if _, _, code := pbxtopo(t, args...); code == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
}
