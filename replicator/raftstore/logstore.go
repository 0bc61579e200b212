package raftstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/pbxtopo/pbxtopo/internal/atomicfile"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore/raftlog"
	"go.etcd.io/bbolt"
)

const (
	walDir    = "wal"     // the Raft log and stable store (raftlog)
	boltLog   = "raft.db" // the raft-boltdb log of pbxtopo before the WAL
	migrated  = ".migrated"
	copyBatch = 512
)

// openLog opens the node's Raft log and stable store, first moving the
// log, term and vote of an older node's raft.db into it: a node must not
// forget its vote or the entries it acknowledged across an upgrade.
func openLog(dir string, log *slog.Logger) (*raftlog.Log, error) {
	wal, old := filepath.Join(dir, walDir), filepath.Join(dir, boltLog)
	_, werr := os.Stat(wal)
	_, oerr := os.Stat(old)
	if oerr == nil {
		if errors.Is(werr, os.ErrNotExist) {
			n, err := migrateBolt(old, wal)
			if err != nil {
				return nil, fmt.Errorf("raft: move the log of %s into %s: %w", old, wal, err)
			}
			log.Info("raft: moved the log from raft-boltdb to the write-ahead log", "entries", n, "from", old)
		} else if werr != nil {
			return nil, werr
		}
		// Done now, or by a start that stopped before this rename.
		if err := os.Rename(old, old+migrated); err != nil {
			return nil, err
		}
		if err := atomicfile.SyncDir(dir); err != nil {
			return nil, err
		}
	}
	l, err := raftlog.Open(wal, raftlog.Options{})
	if errors.Is(err, raftlog.ErrCorrupt) {
		return nil, fmt.Errorf("raft log: %w; this node must not start on it. If the other nodes of its cluster run, treat it as a node that lost its disk: stop it, move its data dir aside and start it empty, and Raft gives it the leader's snapshot (operator guide, \"One node of a cluster lost its disk\")", err)
	}
	if err != nil {
		return nil, fmt.Errorf("raft log: %w", err)
	}
	for _, r := range l.Repairs() {
		log.Warn("raft: the log's last write was torn by a stop; cut", "repair", r)
	}
	return l, nil
}

// migrateBolt copies every entry and stable key of a raft-boltdb file into
// a new log at dst, built aside and renamed into place once complete, so
// a stop halfway leaves raft.db as the log. It returns the entries copied.
func migrateBolt(src, dst string) (int, error) {
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return 0, err
	}
	ro := &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second}
	bs, err := raftboltdb.New(raftboltdb.Options{Path: src, BoltOptions: ro})
	if err != nil {
		return 0, err
	}
	nl, err := raftlog.Open(tmp, raftlog.Options{})
	if err != nil {
		bs.Close()
		return 0, err
	}
	n, err := copyEntries(bs, nl)
	bs.Close()
	if err == nil {
		err = copyStable(src, nl)
	}
	if cerr := nl.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(dst))
	}
	return n, err
}

func copyEntries(from raft.LogStore, to *raftlog.Log) (int, error) {
	first, err := from.FirstIndex()
	if err != nil {
		return 0, err
	}
	last, err := from.LastIndex()
	if err != nil || last == 0 {
		return 0, err
	}
	batch := make([]*raft.Log, 0, copyBatch)
	for i := first; i <= last; i++ {
		e := new(raft.Log)
		if err := from.GetLog(i, e); err != nil {
			return 0, fmt.Errorf("entry %d: %w", i, err)
		}
		if batch = append(batch, e); len(batch) == copyBatch || i == last {
			if err := to.StoreLogs(batch); err != nil {
				return 0, err
			}
			batch = batch[:0]
		}
	}
	return int(last - first + 1), nil
}

// copyStable copies every key of raft-boltdb's stable bucket (the term,
// the vote) byte for byte: raftlog encodes numbers the same way.
func copyStable(src string, to *raftlog.Log) error {
	db, err := bbolt.Open(src, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("conf"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return to.Set(k, v) })
	})
}
