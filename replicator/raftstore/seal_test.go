package raftstore

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestRaftLogSealed: with a sealer, the Raft log files of every node hold
// no write's values in plaintext, and the writes still reach every node.
func TestRaftLogSealed(t *testing.T) {
	k, _ := secrets.NewKey()
	kr, err := secrets.New(k)
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 3, func(_ *Config, d *Deps) { d.Sealer = kr })
	c.leader(t, 10*time.Second)
	const secret = "Rq7plaintextRaftSecret"
	f := pbx.Fields{"extension": "6101", "cluster": "tpa1", "secret": secret}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.nodes[2].rs.Write(ctx, "test", []store.Mutation{{Table: "extensions", Key: "tpa1/6101", Value: f.AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
	waitSame(t, c.nodes, 10*time.Second)
	for _, nd := range c.nodes {
		got, ok, err := nd.local.Get("extensions", "tpa1/6101")
		if err != nil || !ok || got["secret"] != secret {
			t.Fatalf("%s: %v %v %v", nd.name, got, ok, err)
		}
		filepath.WalkDir(filepath.Join(nd.dir, "raft"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds a secret in plaintext", p)
			}
			return nil
		})
	}
	if _, err := openEntry(nil, []byte{store.SealedMark, 1, 'x'}); err == nil {
		t.Fatal("a sealed entry opened without a key")
	}
}
