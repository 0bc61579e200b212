package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Status is what a node observes of its Asterisk (registrations, device
// and agent state, voicemail counts). It is not configuration: it is not
// versioned, has no history, never conflicts and is not in the digests.
// Each entry is written only by the node that observes it and replaced
// whole.

// PutStatus writes status entries (key → value; a nil or empty value
// removes the entry) in one transaction.
func (s *Store) PutStatus(ctx context.Context, entries map[string][]byte) error {
	for k, v := range entries {
		if k == "" || len(k) > maxKeyLen || len(v) > maxValueLen {
			return fmt.Errorf("%w: status entry %q: key must be 1-%d bytes and value at most %d", ErrInvalid, k, maxKeyLen, maxValueLen)
		}
	}
	return s.do(ctx, func(tx *bolt.Tx, st *txState) error { return putStatus(tx, entries) })
}

func putStatus(tx *bolt.Tx, entries map[string][]byte) error {
	b := tx.Bucket(bStatus)
	for k, v := range entries {
		var err error
		if len(v) == 0 { // nil or empty: remove (a Raft entry may turn nil into empty)
			err = b.Delete([]byte(k))
		} else {
			err = b.Put([]byte(k), v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Status calls fn for every status entry whose key starts with prefix.
func (sn *Snapshot) Status(prefix string, fn func(key string, value []byte) error) error {
	c := sn.tx.Bucket(bStatus).Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(string(k), v); err != nil {
			return err
		}
	}
	return nil
}
