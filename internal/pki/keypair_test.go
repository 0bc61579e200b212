package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeyPairReload: a reload puts a new certificate in use; an expired
// one, one that does not match its key, or one the check refuses leaves
// the one in use.
func TestKeyPairReload(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	if err := CreateCA(ca, "test CA", time.Hour*24*10); err != nil {
		t.Fatal(err)
	}
	issue := func(node string, notAfter time.Time) (string, string) {
		c, k, err := CreateCert(ca, t.TempDir(), CertRequest{Cluster: "tpa1", Node: node, Validity: time.Hour, NotAfter: notAfter})
		if err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	certFile, keyFile := filepath.Join(dir, "n.crt"), filepath.Join(dir, "n.key")
	put := func(c, k string) {
		for src, dst := range map[string]string{c: certFile, k: keyFile} {
			b, _ := os.ReadFile(src)
			os.WriteFile(dst, b, 0o600)
		}
	}
	put(issue("tpa1-1", time.Time{}))
	kp, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	first := kp.Leaf().SerialNumber
	put(issue("tpa1-1", time.Time{}))
	if err := kp.Reload(nil); err != nil || kp.Leaf().SerialNumber.Cmp(first) == 0 {
		t.Fatalf("reload: %v", err)
	}
	inUse := kp.Leaf().SerialNumber
	c, _ := issue("tpa1-1", time.Time{})
	_, k := issue("tpa1-1", time.Time{})
	put(c, k)
	if err := kp.Reload(nil); err == nil {
		t.Fatal("a certificate with another key was loaded")
	}
	put(issue("tpa1-1", time.Now().Add(-time.Minute)))
	if err := kp.Reload(nil); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	put(issue("tpa1-9", time.Time{}))
	refuse := errors.New("names another node")
	if err := kp.Reload(func(*x509.Certificate) error { return refuse }); !errors.Is(err, refuse) {
		t.Fatalf("refused by the check: %v", err)
	}
	if kp.Leaf().SerialNumber.Cmp(inUse) != 0 {
		t.Fatal("a refused certificate replaced the one in use")
	}
	if cas, err := ReadCAs(filepath.Join(ca, CAFile)); err != nil || len(cas) != 1 || !cas[0].IsCA {
		t.Fatalf("ReadCAs: %v %v", cas, err)
	}
}
