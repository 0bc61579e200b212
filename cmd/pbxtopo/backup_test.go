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

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/internal/demo"
	"github.com/pbxtopo/pbxtopo/pbx"
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
			"name": fmt.Sprintf("bk %d", num)}, agent.PutOptions{Must: store.MustNotExist})
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
			p, err := e.Client(n, "read").List(ctx, "extensions", agent.Query{Search: "bk " + num})
			if err != nil || p.Total != 1 {
				t.Fatalf("%s: extension %s is missing (%v)", n.Name, num, err)
			}
		}
	}
	eventually(t, 20*time.Second, "repl verify: every replica the same", func() bool {
		v, err := e.Client(peer, "read").ReplVerify(ctx)
		return err == nil && v.AllSame
	})
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
