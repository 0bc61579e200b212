package agent_test

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
	}
}

// TestDecommission runs three real agents, stops lon for good and
// decommissions it from tpa1: lon leaves the cluster records, the ring
// order and the failover lists everywhere; a tombstone that waited for
// lon's watermark is collected; and lon, started again with its old
// certificate, is refused by the others both ways.
func TestDecommission(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	fast := map[string]any{"replication.watermark": "200ms", "replication.mode": "mesh", "replication.order": []string{"tpa1", "sfo", "lon"}}
	tpa1, _ := agenttest.Start(t, caDir, "tpa1", agenttest.Options{Extra: fast})
	join := []string{tpa1.GossipAddr()}
	sfo, _ := agenttest.Start(t, caDir, "sfo", agenttest.Options{Join: join, Extra: fast})
	lonDir := t.TempDir()
	lon, stopLon := agenttest.Start(t, caDir, "lon", agenttest.Options{DataDir: lonDir, Join: join, Extra: fast})
	lonGossip := lon.GossipAddr()
	ctx := context.Background()
	svc := tpa1.Service()
	for _, f := range []struct {
		table string
		rec   pbx.Fields
	}{
		{"sites", pbx.Fields{"name": "tpa"}},
		{"clusters", pbx.Fields{"name": "lon", "site": "tpa", "voice_vip": "192.0.2.3"}},
		{"clusters", pbx.Fields{"name": "sfo", "site": "tpa", "voice_vip": "192.0.2.2", "failover": "lon"}},
		{"clusters", pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "192.0.2.1", "failover": "lon,sfo"}},
		{"extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6109", "name": "soon deleted"}},
	} {
		if _, err := svc.Put(ctx, f.table, f.rec, service.PutOptions{Must: store.MustNotExist}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 20*time.Second, "lon has every record", func() bool {
		v, err := lon.Service().Get(ctx, "extensions", "tpa1/6109")
		return err == nil && v.Fields["name"] == "soon deleted"
	})
	stopLon()
	del, err := svc.Delete(ctx, "extensions", "tpa1/6109", "")
	if err != nil {
		t.Fatal(err)
	}
	delDot, err := store.ParseDot(del.Versions[0])
	if err != nil {
		t.Fatal(err)
	}
	tomb := func() bool {
		var r *store.Record
		tpa1.Store().View(func(sn *store.Snapshot) error { r, _ = sn.Get("extensions", "tpa1/6109"); return nil })
		return r != nil
	}
	// Once tpa1 and sfo have published watermarks covering the delete, a
	// collection still keeps the tombstone: lon has not seen it.
	waitUntil(t, 10*time.Second, "tpa1 and sfo publish watermarks covering the delete", func() bool {
		covered := 0
		tpa1.Store().View(func(sn *store.Snapshot) error {
			for _, c := range []string{"tpa1", "sfo"} {
				f, ok, _ := sn.GetFields(replicator.WatermarkTable, c)
				if raw, err := base64.StdEncoding.DecodeString(f["summary"]); ok && err == nil {
					if wm, err := store.DecodeSummary(raw); err == nil && wm.Covers(delDot) {
						covered++
					}
				}
			}
			return nil
		})
		return covered == 2
	})
	if purged, _, err := tpa1.Replicator().CollectGarbage(ctx); err != nil || purged != 0 || !tomb() {
		t.Fatalf("a collection while lon had not seen the delete: purged %d, %v", purged, err)
	}

	if _, err := svc.Decommission(ctx, service.DecommissionRequest{Cluster: "tpa1"}); err == nil {
		t.Fatal("an agent decommissioned its own cluster")
	}
	if _, err := svc.Decommission(ctx, service.DecommissionRequest{Cluster: "lon"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Decommission(ctx, service.DecommissionRequest{Cluster: "lon"}); err == nil || !strings.Contains(err.Error(), "already decommissioned") {
		t.Fatalf("second decommission: %v", err)
	}
	waitUntil(t, 10*time.Second, "sfo no longer has lon anywhere", func() bool {
		v, err := sfo.Service().Get(ctx, "clusters", "lon")
		gone := err != nil || v.Deleted
		f, ferr := sfo.Service().Get(ctx, "clusters", "tpa1")
		return gone && ferr == nil && f.Fields["failover"] == "sfo" && !slices.Contains(sfo.Replicator().Topology().Order, "lon")
	})
	waitUntil(t, 10*time.Second, "the tombstone is collected without lon", func() bool { return !tomb() })

	// lon comes back with its old certificate and store: refused both ways.
	// On its old gossip address: a new one would make gossip resolve a
	// name conflict, which races serf's own SetTags (a data race inside
	// serf that -race reports).
	lon2, _ := agenttest.Start(t, caDir, "lon", agenttest.Options{DataDir: lonDir, Join: join,
		Extra: map[string]any{"replication.mode": "mesh", "serf_addr": lonGossip}})
	if _, err := svc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6110", "name": "after"}, service.PutOptions{Must: store.MustNotExist}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "lon's pulls are refused as decommissioned", func() bool {
		for _, l := range lon2.Replicator().Status() {
			if strings.Contains(l.LastError, "decommissioned") || strings.Contains(l.LastError, "403") {
				return true
			}
		}
		return false
	})
	if _, err := lon2.Service().Get(ctx, "extensions", "tpa1/6110"); err == nil {
		t.Fatal("the decommissioned lon received a new write")
	}
	for _, l := range tpa1.Replicator().Status() {
		if l.Peer == "lon" {
			t.Fatalf("tpa1 still pulls from lon: %+v", l)
		}
	}
}
