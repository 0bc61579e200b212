package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/pbxtopo/pbxtopo/internal/atomicfile"
)

// CompactResult gives a compaction's file sizes.
type CompactResult struct {
	Before, After int64
}

// Compact rewrites the store file at path without its free pages: a copy
// of every bucket into a new file, which then replaces the old one by an
// atomic rename. The store must not be open (offline: no agent runs on
// it). On any error the old file is untouched.
func Compact(path string) (CompactResult, error) {
	var res CompactResult
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	res.Before = fi.Size()
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return res, fmt.Errorf("store %s: %w (stop the agent first: compaction is offline)", path, ErrInUse)
	}
	if err != nil {
		return res, fmt.Errorf("store %s: %w", path, err)
	}
	defer src.Close()
	var schema uint64
	src.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bMeta); m != nil {
			schema = getU64(m.Get(kSchema))
		}
		return nil
	})
	if schema == 0 {
		return res, fmt.Errorf("store: compact: %s is not a pbxtopo store", path)
	}
	if schema > SchemaVersion {
		return res, fmt.Errorf("store %s has schema %d: %w; compact it with the newer pbxtopo", path, schema, ErrNewerSchema)
	}
	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	defer os.Remove(tmp)
	err = bolt.Compact(dst, src, 64<<20)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	if fi, err = os.Stat(tmp); err != nil {
		return res, err
	}
	res.After = fi.Size()
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	return res, atomicfile.SyncDir(filepath.Dir(path))
}

// CheckNotInUse returns an error wrapping ErrInUse when a process (an
// agent) holds the store file at path; nil when none does.
func CheckNotInUse(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("store %s: %w", path, ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	return db.Close()
}

// CompactOnline compacts the open store in place: reads and writes wait
// while the file is copied and swapped (seconds for a large store), and
// resume on the compacted file. On an error before the swap the old file
// stays in use.
func (s *Store) CompactOnline() (CompactResult, error) {
	var res CompactResult
	if err := s.Writable(); err != nil {
		return res, err
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	path := s.cfg.Path
	if fi, err := os.Stat(path); err == nil {
		res.Before = fi.Size()
	}
	tmp := path + ".compact"
	os.Remove(tmp)
	defer os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	err = bolt.Compact(dst, s.db, 64<<20)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("store: compact: %w", err)
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return res, err
	}
	res.After = fi.Size()
	if err := s.db.Close(); err != nil {
		return res, err
	}
	// From here the store must reopen, compacted or not.
	renameErr := os.Rename(tmp, path)
	db, err := bolt.Open(path, 0o600, s.boltOptions())
	if err != nil {
		return res, fmt.Errorf("store: reopen after compaction: %w", err)
	}
	s.db = db
	if renameErr != nil {
		return res, fmt.Errorf("store: compact: %w", renameErr)
	}
	atomicfile.SyncDir(filepath.Dir(path))
	return res, s.load()
}
