package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/store"
)

const (
	sipSecret = "Zq8vPlaintextSIPsecretXy"
	vmPIN     = "90817263"
)

func keyring(t *testing.T, n int) (*secrets.Keyring, [][]byte) {
	t.Helper()
	var keys [][]byte
	for range n {
		k, err := secrets.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	kr, err := secrets.New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr, keys
}

func open(t *testing.T, path string, sl store.Sealer) (*store.Store, error) {
	t.Helper()
	cfg := store.DefaultConfig(path)
	cfg.Replica = "tpa1"
	if sl != nil {
		cfg.Sealer = sl
	}
	return store.Open(cfg)
}

func mustOpen(t *testing.T, path string, sl store.Sealer) *store.Store {
	t.Helper()
	s, err := open(t, path, sl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ext(num, secret, pin string) []byte {
	f := pbx.Fields{"extension": num, "cluster": "tpa1", "name": "User " + num, "secret": secret, "vmsecret": pin}
	return f.AppendBinary(nil)
}

func write(t *testing.T, s *store.Store, key string, v []byte) {
	t.Helper()
	if _, err := s.Write(context.Background(), "admin:test", []store.Mutation{{Table: "extensions", Key: key, Value: v}}); err != nil {
		t.Fatal(err)
	}
}

func noPlaintext(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, p := range []string{sipSecret, vmPIN} {
		if bytes.Contains(b, []byte(p)) {
			t.Errorf("%s holds the plaintext secret %q", what, p)
		}
	}
}

func TestSealedAtRest(t *testing.T) {
	kr, _ := keyring(t, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	s := mustOpen(t, path, kr)
	write(t, s, "tpa1/6101", ext("6101", sipSecret, vmPIN))
	write(t, s, "tpa1/6101", ext("6101", sipSecret+"2", vmPIN)) // history holds two versions
	write(t, s, "tpa1/6102", pbx.Fields{"extension": "6102", "cluster": "tpa1", "name": "No secret"}.AppendBinary(nil))

	// Readers see plaintext: Get, Scan, history, replication.
	f, ok, err := s.Get("extensions", "tpa1/6101")
	if err != nil || !ok || f["secret"] != sipSecret+"2" || f["vmsecret"] != vmPIN {
		t.Fatalf("Get = %v %v %v", f, ok, err)
	}
	err = s.View(func(sn *store.Snapshot) error {
		n := 0
		if err := sn.Scan("extensions", "", func(k string, v []byte) error {
			if _, err := pbx.DecodeFields(v); err != nil {
				t.Errorf("scan %s: %v", k, err)
			}
			n++
			return nil
		}); err != nil {
			return err
		}
		h, err := sn.History("extensions", "tpa1/6101")
		if err != nil {
			return err
		}
		if len(h) != 2 || !bytes.Contains(h[0].Change.Value, []byte(sipSecret)) {
			t.Errorf("history = %d entries, first value readable: %v", len(h), len(h) > 0 && bytes.Contains(h[0].Change.Value, []byte(sipSecret)))
		}
		if n != 2 {
			t.Errorf("scan saw %d records", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := s.ChangesSince(store.Summary{}, func(store.Stream) bool { return true }, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Changes) != 3 || !bytes.Contains(batch.Changes[0].Value, []byte(sipSecret)) {
		t.Fatalf("replication ships %d changes; it must ship plaintext", len(batch.Changes))
	}

	var backup bytes.Buffer
	if _, err := s.WriteTo(&backup); err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, "the backup", backup.Bytes())
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, "the store file", raw)
	if !bytes.Contains(raw, []byte("No secret")) {
		t.Error("a record without secrets should stay plaintext (the test reads the raw file)")
	}

	// Without the key the store does not open, and says which config to set.
	_, err = open(t, path, nil)
	if !errors.Is(err, store.ErrSealed) || !strings.Contains(err.Error(), "secrets.key_file") || !strings.Contains(err.Error(), kr.Current()) {
		t.Fatalf("open without key: %v", err)
	}
	other, _ := keyring(t, 1)
	if _, err = open(t, path, other); !errors.Is(err, store.ErrSealed) {
		t.Fatalf("open with another key: %v", err)
	}
}

func TestDigestsIgnoreKeys(t *testing.T) {
	dir := t.TempDir()
	a, _ := keyring(t, 1)
	b, _ := keyring(t, 1)
	sa := mustOpen(t, filepath.Join(dir, "a.db"), a)
	defer sa.Close()
	cfg := store.DefaultConfig(filepath.Join(dir, "b.db"))
	cfg.Replica, cfg.Sealer = "sfo", b
	sb, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg.Path, cfg.Replica, cfg.Sealer = filepath.Join(dir, "c.db"), "mia", nil
	sc, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	write(t, sa, "tpa1/6101", ext("6101", sipSecret, vmPIN))
	batch, err := sa.ChangesSince(store.Summary{}, func(store.Stream) bool { return true }, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*store.Store{sb, sc} {
		if _, err := s.Apply(context.Background(), batch.Changes); err != nil {
			t.Fatal(err)
		}
	}
	roots := func(s *store.Store) string {
		var root string
		s.View(func(sn *store.Snapshot) error {
			d, _ := sn.Digests("extensions")
			root = d["extensions"].Root
			return nil
		})
		return root
	}
	if ra, rb, rc := roots(sa), roots(sb), roots(sc); ra != rb || ra != rc {
		t.Fatalf("digests differ: %s %s %s", ra, rb, rc)
	}
	f, _, err := sb.Get("extensions", "tpa1/6101")
	if err != nil || f["secret"] != sipSecret {
		t.Fatalf("replica with its own key reads %v %v", f, err)
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	// A store written before any key was configured.
	s := mustOpen(t, path, nil)
	for _, n := range []string{"6101", "6102", "6103"} {
		write(t, s, "tpa1/"+n, ext(n, sipSecret, vmPIN))
	}
	s.Close()

	old, oldKeys := keyring(t, 1)
	s = mustOpen(t, path, old)
	n, err := s.Reseal(context.Background())
	if err != nil || n != 6 { // 3 records, 3 log entries
		t.Fatalf("first seal: %d, %v", n, err)
	}
	write(t, s, "tpa1/6104", ext("6104", sipSecret, vmPIN))
	s.Close()
	raw, _ := os.ReadFile(path)
	noPlaintext(t, "the sealed store", raw)

	// Rotate: the new key current, the old still held while resealing.
	nk, _ := secrets.NewKey()
	both, _ := secrets.New(nk, oldKeys[0])
	s = mustOpen(t, path, both)
	if n, err = s.Reseal(context.Background()); err != nil || n != 8 {
		t.Fatalf("rotation resealed %d, %v", n, err)
	}
	if n, err = s.Reseal(context.Background()); err != nil || n != 0 {
		t.Fatalf("a second reseal rewrote %d, %v", n, err)
	}
	s.Close()

	// The old key can be dropped.
	newOnly, _ := secrets.New(nk)
	s = mustOpen(t, path, newOnly)
	f, _, err := s.Get("extensions", "tpa1/6104")
	if err != nil || f["vmsecret"] != vmPIN {
		t.Fatalf("after rotation: %v %v", f, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := open(t, path, old); !errors.Is(err, store.ErrSealed) {
		t.Fatalf("the old key alone still opens the store: %v", err)
	}
}

func TestTamperedValueError(t *testing.T) {
	kr, _ := keyring(t, 1)
	sealed, err := kr.Seal("extensions", "tpa1/6101", ext("6101", sipSecret, vmPIN))
	if err != nil {
		t.Fatal(err)
	}
	// Moved onto another record: refused, and the error holds no secret.
	_, err = kr.Open("extensions", "tpa1/6102", sealed)
	if !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("moved value: %v", err)
	}
	noPlaintext(t, "the error", []byte(err.Error()))
	sealed[len(sealed)-1] ^= 1
	if _, err = kr.Open("extensions", "tpa1/6101", sealed); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("altered value: %v", err)
	}
}

func TestConfigValues(t *testing.T) {
	kr, _ := keyring(t, 1)
	enc, err := kr.SealString("amiPassw0rd")
	if err != nil || !strings.HasPrefix(enc, "enc:") || strings.Contains(enc, "amiPassw0rd") {
		t.Fatalf("SealString = %q, %v", enc, err)
	}
	got, err := secrets.OpenString(kr, "ami.secret", enc)
	if err != nil || got != "amiPassw0rd" {
		t.Fatalf("OpenString = %q, %v", got, err)
	}
	if got, _ := secrets.OpenString(nil, "ami.secret", "plain"); got != "plain" {
		t.Fatal("a plain value must pass through")
	}
	if _, err := secrets.OpenString(nil, "mysql.dsn", enc); err == nil || !strings.Contains(err.Error(), "mysql.dsn") {
		t.Fatalf("no key: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	_, keys := keyring(t, 2)
	path := filepath.Join(t.TempDir(), "keys")
	if err := secrets.WriteFile(path, keys); err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.LoadFile(path)
	if err != nil || kr.Current() != secrets.KeyID(keys[0]) || !kr.Holds(secrets.KeyID(keys[1])) {
		t.Fatalf("LoadFile: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := secrets.LoadFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable key file: %v", err)
	}
	for _, bad := range []string{"", "# only a comment\n", "bm90IGEga2V5", "!!!"} {
		if _, err := secrets.Parse(bad, "test"); !errors.Is(err, secrets.ErrBadKey) {
			t.Errorf("Parse(%q) = %v", bad, err)
		}
	}
}

func FuzzOpenString(f *testing.F) {
	kr, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	enc, _ := kr.SealString("x")
	f.Add(enc)
	f.Add("enc:")
	f.Add("plain")
	f.Fuzz(func(t *testing.T, v string) {
		secrets.OpenString(kr, "k", v)
		secrets.Parse(v, "fuzz")
		kr.Open("t", "k", []byte(v))
	})
}

// TestResealWhileWriting: writes keep landing while a rotation re-seals
// page by page; afterwards the new key alone opens everything.
func TestResealWhileWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	old, oldKeys := keyring(t, 1)
	s := mustOpen(t, path, old)
	var muts []store.Mutation
	for i := range 5000 {
		n := fmt.Sprint(100000 + i)
		muts = append(muts, store.Mutation{Table: "extensions", Key: "tpa1/" + n, Value: ext(n, sipSecret, vmPIN)})
	}
	if _, err := s.Write(context.Background(), "seed", muts); err != nil {
		t.Fatal(err)
	}
	nk, _ := secrets.NewKey()
	if err := old.Set(nk, oldKeys[0]); err != nil { // the keyring the store holds
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 200 {
			n := fmt.Sprint(200000 + i)
			if _, err := s.Write(context.Background(), "writer", []store.Mutation{{Table: "extensions", Key: "tpa1/" + n, Value: ext(n, sipSecret, vmPIN)}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if _, err := s.Reseal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Writes made before the key swap may predate the pass; one more
	// pass finds at most those.
	if _, err := s.Reseal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	newOnly, _ := secrets.New(nk)
	s = mustOpen(t, path, newOnly)
	defer s.Close()
	n := 0
	err := s.View(func(sn *store.Snapshot) error {
		return sn.Scan("extensions", "", func(k string, v []byte) error {
			f, err := pbx.DecodeFields(v)
			if err != nil || f["secret"] != sipSecret {
				t.Fatalf("%s: %v", k, err)
			}
			n++
			return nil
		})
	})
	if err != nil || n != 5200 {
		t.Fatalf("read %d records: %v", n, err)
	}
}
