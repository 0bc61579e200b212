package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rssFileMB is the part of this process's resident set that maps files
// (the store among them), from /proc/self/status.
func rssFileMB(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	t.Fatal("/proc/self/status has no RssFile line")
	return 0
}

// readAll touches every page of the store file through its mapping, as
// serving a catch-up or building an index does.
func readAll(t *testing.T, s *Store) {
	t.Helper()
	sum := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				for i := 0; i < len(v); i += 1024 {
					sum += int(v[i])
				}
				return nil
			})
		})
	})
	if err != nil || sum == 0 {
		t.Fatalf("reading the store: %v (%d)", err, sum)
	}
}

// The pages a read touched leave the process's resident set at a trim: one
// called directly, then the store's own loop.
func TestTrimDropsTheMappedFileFromTheResidentSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	cfg := DefaultConfig(path)
	cfg.Replica, cfg.ResidentTrim = "tpa1", 0
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("x"), 8<<10)
	for batch := 0; batch < 8; batch++ {
		m := map[string][]byte{}
		for i := 0; i < 500; i++ {
			m[fmt.Sprintf("node%d/phone%d", batch, i)] = value
		}
		if err := s.PutStatus(bg, m); err != nil {
			t.Fatal(err)
		}
	}
	before := rssFileMB(t)
	readAll(t, s)
	if read := rssFileMB(t); read-before < 30 {
		t.Fatalf("reading the store's 55 MB raised the mapped resident set by %.1f MB only", read-before)
	}
	if err := s.trimResident(); err != nil {
		t.Fatal(err)
	}
	if after := rssFileMB(t); after > before+2 {
		t.Fatalf("a trim left %.1f MB of the store resident", after-before)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The store's own loop: after a read, the pages go within a few
	// periods (a trim in the middle of the read only makes it sooner).
	cfg.ResidentTrim = 50 * time.Millisecond
	if s, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Again after an online compaction, which swaps the file under the
	// store (as a restore does).
	for round, swap := range []func() error{func() error { return nil }, func() error { _, err := s.CompactOnline(); return err }} {
		if err := swap(); err != nil {
			t.Fatal(err)
		}
		before = rssFileMB(t)
		readAll(t, s)
		deadline := time.Now().Add(5 * time.Second)
		for rssFileMB(t) > before+2 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the store's pages stayed resident: %.1f MB mapped before the read, %.1f MB 5 s after it", round, before, rssFileMB(t))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
