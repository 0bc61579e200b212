package raftstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/pbxtopo/pbxtopo/store"
)

// writeBoltLog makes the raft.db an older node left: entries first..last,
// a term, a vote.
func writeBoltLog(t *testing.T, dir string, first, last uint64) []*raft.Log {
	t.Helper()
	bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, boltLog)})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	var logs []*raft.Log
	for i := first; i <= last; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: []byte(fmt.Sprint("op ", i)),
			AppendedAt: time.Unix(1700000000, int64(i))})
	}
	logs[0].Type = raft.LogConfiguration
	if err := bs.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]uint64{"CurrentTerm": 4, "LastVoteTerm": 4} {
		if err := bs.SetUint64([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := bs.Set([]byte("LastVoteCand"), []byte("node-b")); err != nil {
		t.Fatal(err)
	}
	return logs
}

func TestMigrateBoltLog(t *testing.T) {
	dir := t.TempDir()
	want := writeBoltLog(t, dir, 1200, 2500) // a compacted log, several copy batches
	// A copy a stopped start left halfway is discarded.
	if err := os.MkdirAll(filepath.Join(dir, walDir+".tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, walDir+".tmp", "00000000000000000001.wal"), []byte("junk"), 0o600)

	for range 2 { // the second open finds the log already moved
		l, err := openLog(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		if first != 1200 || last != 2500 {
			t.Fatalf("moved log holds %d-%d, want 1200-2500", first, last)
		}
		for _, w := range want {
			var got raft.Log
			if err := l.GetLog(w.Index, &got); err != nil {
				t.Fatal(err)
			}
			if got.Term != w.Term || got.Type != w.Type || !bytes.Equal(got.Data, w.Data) || !got.AppendedAt.Equal(w.AppendedAt) {
				t.Fatalf("entry %d: got %+v, want %+v", w.Index, got, w)
			}
		}
		if v, err := l.GetUint64([]byte("CurrentTerm")); err != nil || v != 4 {
			t.Fatalf("term %d, %v", v, err)
		}
		if v, err := l.GetUint64([]byte("LastVoteTerm")); err != nil || v != 4 {
			t.Fatalf("vote term %d, %v", v, err)
		}
		if v, err := l.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-b" {
			t.Fatalf("vote %q, %v", v, err)
		}
		if has, err := raft.HasExistingState(l, l, raft.NewInmemSnapshotStore()); err != nil || !has {
			t.Fatalf("raft sees no existing state after the move: %v", err)
		}
		l.Close()
		if _, err := os.Stat(filepath.Join(dir, boltLog)); !os.IsNotExist(err) {
			t.Fatalf("raft.db still in place: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, boltLog+migrated)); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, walDir+".tmp")); !os.IsNotExist(err) {
			t.Fatalf("the half copy is still there: %v", err)
		}
	}
}

// A start that stopped after the new log was in place but before raft.db
// was set aside: the new log is kept (it may have grown since), raft.db
// is only set aside.
func TestMigrateFinishesRename(t *testing.T) {
	dir := t.TempDir()
	writeBoltLog(t, dir, 1, 10)
	if _, err := migrateBolt(filepath.Join(dir, boltLog), filepath.Join(dir, walDir)); err != nil {
		t.Fatal(err)
	}
	l, err := openLog(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if last, _ := l.LastIndex(); last != 10 {
		t.Fatalf("last %d", last)
	}
	if _, err := os.Stat(filepath.Join(dir, boltLog+migrated)); err != nil {
		t.Fatal(err)
	}
}

// A node whose log lost the end of its last write (a torn write: the
// machine stopped mid-append) starts, cuts it, and gets the entries
// again from the leader.
func TestTornLogTailCatchesUp(t *testing.T) {
	small := func(c *Config, _ *Deps) { c.SnapshotThreshold, c.TrailingLogs = 32, 8 }
	c := newCluster(t, 3, small)
	leader := c.leader(t, 10*time.Second)
	for i := 0; i < 120; i++ { // past a few compactions
		if err := put(bg, leader, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitSame(t, c.nodes, 10*time.Second)
	var follower *node
	for _, nd := range c.nodes {
		if nd != leader {
			follower = nd
			break
		}
	}
	c.kill(follower)
	segs, err := filepath.Glob(filepath.Join(follower.dir, "raft", walDir, "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no log segments: %v", err)
	}
	last := segs[len(segs)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("torn garbage"))
	f.Close()
	c.revive(follower, 3, small)
	leader = c.leader(t, 10*time.Second)
	for i := 120; i < 140; i++ {
		if err := put(bg, leader, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitSame(t, c.nodes, 10*time.Second)
	if !has(follower, "tpa1/139") {
		t.Fatal("the node with the torn log did not catch up")
	}
}

// A log damaged other than at its tail stops the node: the node's own
// start (New) fails with an error that says where and what the operator
// does.
func TestCorruptLogSaysWhatToDo(t *testing.T) {
	c := newCluster(t, 1, nil)
	nd := c.leader(t, 10*time.Second)
	for i := 0; i < 3; i++ { // batches after the first: its damage is not a torn tail
		if err := put(bg, nd, fmt.Sprintf("tpa1/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.kill(nd)
	segs, err := filepath.Glob(filepath.Join(nd.dir, "raft", walDir, "*.wal"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[60] ^= 0xff // inside the first record
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	sc := store.DefaultConfig(filepath.Join(nd.dir, "store.db"))
	sc.Replica = "tpa1"
	local, err := store.Open(sc)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	cfg := DefaultConfig(nd.name, "tpa1", filepath.Join(nd.dir, "raft"))
	rs, err := New(cfg, Deps{Store: local, Peers: c, Forwarder: c, Transport: nd.trans})
	if err == nil {
		rs.Close()
	}
	for _, want := range []string{segs[0] + " at offset 0", "must not start", "move its data dir aside", "lost its disk"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("start on a damaged log: %v; want it to say %q", err, want)
		}
	}
}
