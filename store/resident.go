package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sys/unix"
)

// The store file is mapped into memory (bbolt), so every page a read
// touches stays in the process's resident set until the kernel needs the
// memory back: serving a catch-up, building the search index or the DUNDi
// directory touches the whole file, and at a million extensions left 613
// MB of it resident in an agent that then used a fraction of it. Every
// ResidentTrim the store drops its mapping's pages from the resident set.
// They stay in the kernel's page cache, so the next read of one costs a
// minor fault (well under a microsecond of the kernel's time), not a disk
// read, and the resident set is the agent's own memory plus the pages it
// read since the last trim.

// trimResident drops the mapped store file's pages from this process's
// resident set (madvise MADV_DONTNEED; the file mapping is read-only and
// bbolt writes through the file, so no page is dirty and nothing is lost).
func (s *Store) trimResident() error {
	// dbMu: a restore or an online compaction swaps the file. A read
	// transaction holds bbolt's mapping in place (a remap waits for it),
	// so the range is the store file's for the whole call.
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(func(tx *bolt.Tx) error {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.db.Info().Data, uintptr(tx.Size()), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("store %s: madvise: %w", s.cfg.Path, errno)
		}
		return nil
	})
}

// trimResidentOK trims, and logs (and stops the trims) when it cannot; a
// store closing stops them too.
func (s *Store) trimResidentOK() bool {
	err := s.trimResident()
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return false
	}
	if err != nil {
		s.log.Warn("store: could not trim the resident pages of the mapped file; no more trims", "err", err)
		return false
	}
	return true
}
