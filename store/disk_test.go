package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmpfs mounts a small tmpfs for a real disk-full test, or skips.
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("disk-full test needs a small tmpfs (run as root with mount): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestDiskFullTurnsReadOnlyAndResumes fills a real 24 MiB tmpfs until the
// store refuses writes, checks the refusal says what to do, that reads
// go on, and that writes resume by themselves once space is freed: by
// the free-space threshold, and by a real ENOSPC from the file system.
func TestDiskFullTurnsReadOnlyAndResumes(t *testing.T) {
	for _, c := range []struct {
		name    string
		minFree int64
	}{{"below min free", 6 << 20}, {"ENOSPC", 1}} {
		t.Run(c.name, func(t *testing.T) {
			dir := tmpfs(t, "24m")
			filler := filepath.Join(dir, "filler")
			if err := os.WriteFile(filler, make([]byte, 12<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			s := newTestStore(t, "tpa1", func(cfg *Config) {
				cfg.Path = filepath.Join(dir, "store.db")
				cfg.MinFreeBytes, cfg.DiskProbe = c.minFree, 10*time.Millisecond
			})
			big := strings.Repeat("x", 60<<10)
			var err error
			n := 0
			for ; n < 1000; n++ {
				_, err = s.Write(bg, "test", []Mutation{{Table: "extensions", Key: fmt.Sprint("tpa1/", n), Value: val("name", big)}})
				if err != nil {
					break
				}
			}
			if !errors.Is(err, ErrDiskFull) || !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "resume by themselves") {
				t.Fatalf("after %d writes: %v, want the disk-full refusal", n, err)
			}
			t.Logf("refused after %d writes: %v", n, err)
			if !s.DiskFull() || !s.Stats().DiskFull {
				t.Fatal("the store does not report its disk-full mode")
			}
			if _, err := s.Write(bg, "test", []Mutation{{Table: "extensions", Key: "tpa1/x", Value: val("name", "small")}}); !errors.Is(err, ErrDiskFull) {
				t.Fatalf("a write in the disk-full mode: %v", err)
			}
			if n > 0 && get(t, s, "tpa1/0") == nil {
				t.Fatal("reads stop in the disk-full mode")
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.DiskFull() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if s.DiskFull() {
				t.Fatal("the store did not resume after space was freed")
			}
			put(t, s, "tpa1/after", "name", "space is back")
			if r := get(t, s, "tpa1/after"); r == nil || !r.Exists() {
				t.Fatal("the write after resuming is not there")
			}
		})
	}
}

// TestCompactOnline compacts an open store with deleted records while
// writers wait, then checks it is smaller, consistent and takes writes.
func TestCompactOnline(t *testing.T) {
	s := newTestStore(t, "tpa1")
	big := strings.Repeat("x", 8<<10)
	for i := 0; i < 300; i++ {
		put(t, s, fmt.Sprint("tpa1/", i), "name", big)
	}
	if _, err := s.PruneLog(bg, time.Now().Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.CompactOnline()
	if err != nil {
		t.Fatal(err)
	}
	if res.After >= res.Before || res.After <= 0 {
		t.Fatalf("compaction %d -> %d bytes", res.Before, res.After)
	}
	if get(t, s, "tpa1/299") == nil {
		t.Fatal("a record is lost")
	}
	put(t, s, "tpa1/after", "name", "x")
}
