package raftstore

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/store"
)

type noPeers struct{}

func (noPeers) Peers() []Peer { return nil }

// TestDiskFullRefusesBeforeTheLog fills a real tmpfs under a one-node
// cluster: writes are refused with the disk-full error before they enter
// the Raft log (the node keeps leading, nothing is appended), and resume
// once space is freed.
func TestDiskFullRefusesBeforeTheLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fs")
	os.Mkdir(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("disk-full test needs a small tmpfs (run as root with mount): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	sc := store.DefaultConfig(filepath.Join(dir, "store.db"))
	sc.Replica, sc.MinFreeBytes, sc.DiskProbe = "tpa1", 8<<20, 10*time.Millisecond
	local, err := store.Open(sc)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	_, trans := raft.NewInmemTransport("n1")
	cfg := DefaultConfig("n1", "tpa1", filepath.Join(dir, "raft"))
	rs, err := New(cfg, Deps{Store: local, Peers: noPeers{}, Transport: trans})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rs.Run(ctx)
	nd := &node{rs: rs}
	deadline := time.Now().Add(10 * time.Second)
	for put(ctx, nd, "tpa1/1") != nil {
		if time.Now().After(deadline) {
			t.Fatal("no first write")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var fs syscall.Statfs_t
	syscall.Statfs(dir, &fs)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(fs.Bavail)*int64(fs.Bsize)-4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline = time.Now().Add(5 * time.Second); !local.DiskFull(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store did not notice the full disk")
		}
	}
	last := rs.Raft().LastIndex()
	if err := put(ctx, nd, "tpa1/2"); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("a write on a full disk: %v", err)
	}
	if rs.Raft().LastIndex() != last || !rs.IsLeader() {
		t.Fatal("the refused write reached the Raft log, or the node stopped leading")
	}
	os.Remove(filler)
	for deadline = time.Now().Add(5 * time.Second); local.DiskFull(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store did not resume")
		}
	}
	if err := put(ctx, nd, "tpa1/2"); err != nil {
		t.Fatalf("a write after space came back: %v", err)
	}
}
