package raftstore

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore/raftlog"
)

// BenchmarkStoreLogs compares one fsynced append of a batch of entries
// (about the bench suite's write: 300 bytes) in raft-boltdb and raftlog.
func BenchmarkStoreLogs(b *testing.B) {
	stores := map[string]func(dir string) (raft.LogStore, func()){
		"boltdb": func(dir string) (raft.LogStore, func()) {
			s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
			if err != nil {
				b.Fatal(err)
			}
			return s, func() { s.Close() }
		},
		"raftlog": func(dir string) (raft.LogStore, func()) {
			s, err := raftlog.Open(filepath.Join(dir, "wal"), raftlog.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s, func() { s.Close() }
		},
	}
	data := bytes.Repeat([]byte("x"), 300)
	for _, name := range []string{"boltdb", "raftlog"} {
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/batch%d", name, n), func(b *testing.B) {
				s, done := stores[name](b.TempDir())
				defer done()
				idx := uint64(1)
				b.ReportAllocs()
				for b.Loop() {
					batch := make([]*raft.Log, n)
					for i := range batch {
						batch[i] = &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data}
						idx++
					}
					if err := s.StoreLogs(batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
