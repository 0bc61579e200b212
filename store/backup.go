package store

import (
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// WriteTo writes a consistent copy of the whole store (one read
// transaction) to w: a Raft snapshot or a backup.
func (s *Store) WriteTo(w io.Writer) (int64, error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Restore replaces the whole store with a copy made by WriteTo, of the
// same cluster: a Raft follower installing the leader's snapshot. Writes
// and reads wait while the file is swapped.
//
// A copy that is not newer than the store is dropped and the store kept
// (restored is false): a store never goes back in time. Newer means it
// records a later Raft index, or the store has no change at all yet (a new
// node installing a cluster's first snapshot, made from a store seeded
// before Raft, whose index is 0).
func (s *Store) Restore(r io.Reader) (restored bool, err error) {
	if s.cfg.ReadOnly {
		return false, ErrReadOnly
	}
	err = s.restore(r, func(index uint64) bool {
		return index > s.RaftIndex() || s.Stats().LSN == 0
	})
	if errors.Is(err, errNotNewer) {
		return false, nil
	}
	return err == nil, err
}

var errNotNewer = errors.New("the copy is not newer than the store")

func (s *Store) restore(r io.Reader, newer func(raftIndex uint64) bool) error {
	tmp := s.cfg.Path + ".restore"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	// Check it before it replaces anything.
	check, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: s.cfg.OpenTimeout})
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: restore: the snapshot is not a store: %w", err)
	}
	var replica string
	var index uint64
	// A snapshot from a node of an older pbxtopo is migrated first.
	err = check.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		if m == nil {
			return nil
		}
		replica, index = string(m.Get(kReplica)), getU64(m.Get(kRaftIndex))
		if int(getU64(m.Get(kSchema))) < SchemaVersion {
			_, err := migrate(tx, migrations, SchemaVersion, s.cfg.Now())
			return err
		}
		return nil
	})
	check.Close()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	if replica != s.replica {
		os.Remove(tmp)
		return fmt.Errorf("store: restore: the snapshot belongs to cluster %q, this store to %q", replica, s.replica)
	}
	if !newer(index) {
		os.Remove(tmp)
		return errNotNewer
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := s.db.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.cfg.Path); err != nil {
		return err
	}
	db, err := bolt.Open(s.cfg.Path, 0o600, s.boltOptions())
	if err != nil {
		return fmt.Errorf("store: reopen after restore: %w", err)
	}
	s.db = db
	if err := s.load(); err != nil {
		return err
	}
	s.mu.Lock()
	s.restores++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}
