package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRestoreCatchesUp backs up a store, keeps writing, loses the
// store, restores the backup under a new incarnation, and catches up from
// a peer: nothing is lost and the restored store's new writes are taken.
func TestBackupRestoreCatchesUp(t *testing.T) {
	a := newTestStore(t, "tpa1")
	b := newTestStore(t, "sfo")
	put(t, a, "tpa1/6001", "name", "before")
	put(t, b, "sfo/7001", "name", "peer before")
	pull(t, b, a)
	pull(t, a, b)
	var buf bytes.Buffer
	h, err := a.Backup(&buf, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if h.Cluster != "tpa1" || h.Node != "n1" || h.Incarnation != a.Incarnation() || h.Schema != SchemaVersion {
		t.Fatalf("header %+v", h)
	}
	put(t, a, "tpa1/6002", "name", "after the backup")
	put(t, b, "sfo/7002", "name", "peer after")
	pull(t, b, a)

	path := filepath.Join(t.TempDir(), "store.db")
	res, err := RestoreBackup(bytes.NewReader(buf.Bytes()), path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Incarnation == a.Incarnation() || res.Incarnation == 0 {
		t.Fatalf("restored under incarnation %x, the old one is %x", res.Incarnation, a.Incarnation())
	}
	r := newTestStore(t, "", func(c *Config) { c.Path = path })
	if r.Incarnation() != res.Incarnation || r.IdentityAgreed() || r.RaftIndex() != 0 || r.AgentHasRun() {
		t.Fatal("the restored store keeps Raft or agent state of the old one")
	}
	if get(t, r, "tpa1/6001") == nil || get(t, r, "tpa1/6002") != nil {
		t.Fatal("the restored store is not the backup")
	}
	pull(t, r, b) // catch up: b has what the backup lacks, of every origin
	for _, k := range []string{"tpa1/6001", "tpa1/6002", "sfo/7001", "sfo/7002"} {
		if get(t, r, k) == nil {
			t.Fatalf("%s is lost after the restore and catch-up", k)
		}
	}
	put(t, r, "tpa1/6003", "name", "restored writes")
	pull(t, b, r)
	if get(t, b, "tpa1/6003") == nil {
		t.Fatal("the peer did not take the restored store's new write")
	}
	sameDigests(t, r, b)
}

func TestRestoreRefusesBadBackups(t *testing.T) {
	a := newTestStore(t, "tpa1")
	put(t, a, "tpa1/6001", "name", "x")
	var buf bytes.Buffer
	if _, err := a.Backup(&buf, ""); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	hdrEnd := len(backupMagic) + 6 + int(binary.BigEndian.Uint32(good[len(backupMagic)+2:]))
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		file []byte
		want error
		says string
	}{
		{"empty", nil, ErrBadBackup, "too short"},
		{"not a backup", []byte("SQLite format 3\x00 and more bytes"), ErrBadBackup, "magic"},
		{"truncated header", good[:hdrEnd-3], ErrBadBackup, "truncated"},
		{"truncated image", good[:hdrEnd+100], ErrBadBackup, "truncated"},
		{"no checksum", good[:len(good)-32], ErrBadBackup, "checksum is missing"},
		{"corrupt image", mod(func(b []byte) []byte { b[hdrEnd+5000] ^= 1; return b }), ErrBadBackup, "checksum does not match"},
		{"corrupt checksum", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrBadBackup, "checksum does not match"},
		{"extra bytes", append(bytes.Clone(good), 0), ErrBadBackup, "extra bytes"},
		{"newer format", mod(func(b []byte) []byte { b[len(backupMagic)+1] = 9; return b }), ErrNewerSchema, "newer"},
		{"newer schema", mod(func(b []byte) []byte {
			return bytes.Replace(b, []byte(fmt.Sprintf(`"schema":%d`, SchemaVersion)), []byte(`"schema":9`), 1)
		}), ErrNewerSchema, "newer pbxtopo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "store.db")
			_, err := RestoreBackup(bytes.NewReader(c.file), path)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("got %v, want %v saying %q", err, c.want, c.says)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("a refused restore left %v", left)
			}
		})
	}
	t.Run("existing store", func(t *testing.T) {
		if _, err := RestoreBackup(bytes.NewReader(good), a.Path()); err == nil || !strings.Contains(err.Error(), "exists") {
			t.Fatalf("restore over a store: %v", err)
		}
	})
}

func FuzzReadBackup(f *testing.F) {
	var buf bytes.Buffer
	writeBackupHeader(&buf, BackupHeader{Format: 1, Schema: 1, Cluster: "tpa1", Length: 10})
	buf.Write(make([]byte, 10+32))
	f.Add(buf.Bytes())
	f.Add([]byte("PBXTBAK\n\x00\x01\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadBackup(bytes.NewReader(b), &bytes.Buffer{})
		if err == nil && (h.Cluster == "" || h.Length <= 0 || h.Schema > SchemaVersion) {
			t.Fatalf("accepted a bad header %+v", h)
		}
	})
}
