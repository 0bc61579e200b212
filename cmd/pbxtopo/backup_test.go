package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestBackupRestoreEndToEnd runs two real agents: it backs up one
// through its API, keeps writing on both, kills it and destroys its data
// dir, restores the backup, starts it again and checks that every write
// made anywhere (also after the backup) is everywhere, and that the
// restored node's new writes (a new incarnation) reach its peer.
func TestBackupRestoreEndToEnd(t *testing.T) {
	e := startEnterprise(t, []string{"tpa1", "sfo"}, "mesh")
	// sfo is backed up and lost; tpa1, whose gossip address the others
	// join, goes on.
	peer, lost := e.Clusters[0].Nodes[0], e.Clusters[1].Nodes[0]
	ctx := context.Background()
	var want []string
	add := func(n *demo.Node, cluster string, num int) {
		t.Helper()
		_, err := e.Client(n, "operator").Put(ctx, "extensions", pbx.Fields{"cluster": cluster, "regexten": fmt.Sprint(num),
			"name": fmt.Sprintf("bk %d", num)}, service.PutOptions{Must: store.MustNotExist})
		if err != nil {
			t.Fatalf("add %d at %s: %v", num, n.Name, err)
		}
		want = append(want, fmt.Sprint(num))
	}
	for i := 0; i < 5; i++ {
		add(lost, "sfo", 7000+i)
		add(peer, "tpa1", 8000+i)
	}
	file := filepath.Join(t.TempDir(), "sfo.pbxbak")
	if _, errs, code := pbxtopo(t, "backup", file, "--addr", lost.HTTP, "--token", e.Tokens["operator"]); code != 1 || !strings.Contains(errs, "admin role") {
		t.Fatalf("backup with the operator role: exit %d %s", code, errs)
	}
	out := mustRun(t, "backup", file, "--addr", lost.HTTP, "--token", e.Tokens["admin"])
	if !strings.Contains(out, "backup of cluster sfo") {
		t.Fatalf("backup said %q", out)
	}
	for i := 5; i < 10; i++ { // after the backup: the backup lacks these
		add(lost, "sfo", 7000+i)
		add(peer, "tpa1", 8000+i)
	}
	eventually(t, 20*time.Second, "tpa1 has sfo's writes made after the backup", func() bool { return count(e, peer, "bk") == len(want) })

	if err := lost.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	lost.Wait(5 * time.Second)
	if err := os.RemoveAll(lost.DataDir); err != nil { // the cluster's data is gone
		t.Fatal(err)
	}
	for i := 10; i < 13; i++ { // peer goes on while lost is down
		add(peer, "tpa1", 8000+i)
	}
	out = mustRun(t, "restore", file, "--data-dir", lost.DataDir)
	if !strings.Contains(out, "new incarnation") {
		t.Fatalf("restore said %q", out)
	}
	if err := lost.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 40*time.Second, "the restored sfo caught up with everything, also what the backup lacks", func() bool {
		return count(e, lost, "bk") == len(want)
	})
	for i := 20; i < 23; i++ { // new writes at the restored node: new incarnation, no reused sequence
		add(lost, "sfo", 7000+i)
	}
	eventually(t, 20*time.Second, "tpa1 took the restored node's new writes", func() bool { return count(e, peer, "bk") == len(want) })
	for _, n := range []*demo.Node{lost, peer} {
		for _, num := range want {
			p, err := e.Client(n, "read").List(ctx, "extensions", service.Query{Search: "bk " + num})
			if err != nil || p.Total != 1 {
				t.Fatalf("%s: extension %s is missing (%v)", n.Name, num, err)
			}
		}
	}
	eventually(t, 20*time.Second, "repl verify: every replica the same", func() bool {
		v, err := e.Client(peer, "read").ReplVerify(ctx)
		return err == nil && v.AllSame
	})
	out = mustRun(t, "store", "compact", "--addr", lost.HTTP, "--token", e.Tokens["admin"])
	if !strings.Contains(out, "compacted the store of the agent") {
		t.Fatalf("online compaction said %q", out)
	}
	add(lost, "sfo", 7030) // writes go on after an online compaction
	eventually(t, 20*time.Second, "tpa1 took the write made after the compaction", func() bool { return count(e, peer, "bk") == len(want) })
}

func TestRestoreRefusesAndChangesNothing(t *testing.T) {
	dir := sampleStore(t)
	file := filepath.Join(t.TempDir(), "b.pbxbak")
	mustRun(t, "backup", file, "--data-dir", dir)
	if _, errs, code := pbxtopo(t, "restore", file, "--data-dir", dir); code != 1 || !strings.Contains(errs, "--force") {
		t.Fatalf("restore over a store without --force: exit %d %s", code, errs)
	}
	b, _ := os.ReadFile(file)
	bad := filepath.Join(t.TempDir(), "bad.pbxbak")
	os.WriteFile(bad, b[:len(b)/2], 0o600)
	fresh := t.TempDir()
	if _, errs, code := pbxtopo(t, "restore", bad, "--data-dir", fresh); code != 1 || !strings.Contains(errs, "truncated") || !strings.Contains(errs, "nothing was changed") {
		t.Fatalf("restore of a truncated file: exit %d %s", code, errs)
	}
	if left, _ := os.ReadDir(fresh); len(left) != 0 {
		t.Fatalf("a refused restore left %v", left)
	}
	before := mustRun(t, "export", "--data-dir", dir, "-o", "csv")
	out := mustRun(t, "restore", file, "--data-dir", dir, "--force")
	if !strings.Contains(out, "moved aside") {
		t.Fatalf("restore --force said %q", out)
	}
	if after := mustRun(t, "export", "--data-dir", dir, "-o", "csv"); after != before {
		t.Fatal("the restored store differs from the backed-up one")
	}
	out = mustRun(t, "store", "compact", "--data-dir", dir)
	if !strings.Contains(out, "before") || !strings.Contains(out, "after") {
		t.Fatalf("compact said %q", out)
	}
	if after := mustRun(t, "export", "--data-dir", dir, "-o", "csv"); after != before {
		t.Fatal("compaction changed the data")
	}
}

// TestRaftClusterRestore backs up a three-node Raft cluster through one
// follower, keeps writing, loses every node's data, restores every node
// from the same file as the README says, and checks the cluster comes
// back with everything (the other cluster gives back what the backup
// lacks) and takes new writes on every node under one new incarnation.
func TestRaftClusterRestore(t *testing.T) {
	// tpa1's three nodes (gossip seed: tpa1-1) and one sfo node alone.
	e := threeNodeCluster(t, demo.Config{})
	ctx := context.Background()
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := e.WaitReady(waitCtx); err != nil {
		t.Fatal(err)
	}
	tpa, sfo := e.Clusters[0].Nodes, e.Clusters[1].Nodes[0]
	t0 := time.Now()
	written := 0
	add := func(n *demo.Node) {
		t.Helper()
		var err error
		for try := 0; try < 3; try++ { // the first write after a start may meet an election
			_, err = e.Client(n, "operator").Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": fmt.Sprint(7100 + written),
				"name": fmt.Sprintf("rr %d", written)}, service.PutOptions{Must: store.MustNotExist})
			if err == nil {
				written++
				return
			}
		}
		t.Fatalf("write through %s: %v", n.Name, err)
	}
	for _, n := range tpa {
		add(n)
	}
	for _, n := range tpa {
		eventually(t, 10*time.Second, n.Name+" applied the writes", func() bool { return count(e, n, "rr") == written })
	}
	file := filepath.Join(t.TempDir(), "tpa1.pbxbak")
	mustRun(t, "backup", file, "--addr", tpa[2].HTTP, "--token", e.Tokens["admin"])
	for _, n := range tpa { // after the backup
		add(n)
	}
	eventually(t, 20*time.Second, "sfo has every tpa1 write", func() bool { return count(e, sfo, "rr") == written })
	// tpa1 is lost: all three nodes with their data. tpa1-1 is the gossip
	// seed; sfo finds the others again through it.
	for _, n := range tpa {
		n.Signal(syscall.SIGKILL)
	}
	for _, n := range tpa {
		n.Wait(5 * time.Second)
		mustRun(t, "restore", file, "--data-dir", n.DataDir, "--force")
	}
	t.Logf("backup, writes and restore took %s", time.Since(t0).Round(time.Millisecond))
	// As the README says: a restored node's join list names a live agent
	// of another cluster (tpa1-1, the gossip seed, joined only itself).
	for _, n := range tpa {
		b, _ := os.ReadFile(n.Config)
		c := string(b)
		if strings.Contains(c, "join: [") {
			c = strings.Replace(c, "join: [", fmt.Sprintf("join: [%q, ", sfo.Serf), 1)
		} else {
			c += fmt.Sprintf("join: [%q]\n", sfo.Serf)
		}
		os.WriteFile(n.Config, []byte(c), 0o600)
	}
	t0 = time.Now()
	for _, n := range tpa {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range tpa {
		eventually(t, 60*time.Second, n.Name+" has everything again, also what the backup lacks", func() bool { return count(e, n, "rr") == written })
	}
	t.Logf("restored cluster caught up %s after the start", time.Since(t0).Round(time.Millisecond))
	for _, n := range tpa { // new writes through every node, under the new incarnation
		add(n)
	}
	eventually(t, 20*time.Second, "sfo took the restored cluster's new writes", func() bool { return count(e, sfo, "rr") == written })
	for _, n := range tpa {
		eventually(t, 10*time.Second, n.Name+" has the new writes", func() bool { return count(e, n, "rr") == written })
	}
	eventually(t, 20*time.Second, "repl verify: every replica the same", func() bool {
		v, err := e.Client(sfo, "read").ReplVerify(ctx)
		return err == nil && v.AllSame
	})
}
