package service

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestMoveExtension moves tpa1/6109 to lon and back many times while a
// reader checks every snapshot: the number is always on exactly one of
// the two clusters. The history of both keys names the move; the roaming
// report follows; moving onto an existing number is refused.
func TestMoveExtension(t *testing.T) {
	svc, st := sampleService(t)
	ctx := WithAuthor(context.Background(), "alice")
	var stop atomic.Bool
	var seen [3]atomic.Int64 // snapshots with the number on 0, 1 or 2 clusters
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			st.View(func(sn *store.Snapshot) error {
				n := 0
				for _, k := range []string{"tpa1/6109", "lon/6109"} {
					if _, ok, _ := sn.GetFields("extensions", k); ok {
						n++
					}
				}
				seen[n].Add(1)
				return nil
			})
		}
	}()
	from, to := "tpa1", "lon"
	for i := 0; i < 20; i++ {
		if _, err := svc.Move(ctx, MoveRequest{From: from + "/6109", To: to}); err != nil {
			t.Fatalf("move %d %s → %s: %v", i, from, to, err)
		}
		from, to = to, from
	}
	stop.Store(true)
	wg.Wait()
	if seen[0].Load() != 0 || seen[2].Load() != 0 || seen[1].Load() == 0 {
		t.Fatalf("snapshots with the number on 0/1/2 clusters: %d/%d/%d", seen[0].Load(), seen[1].Load(), seen[2].Load())
	}
	view, err := svc.Get(ctx, "extensions", "tpa1/6109")
	if err != nil || view.Fields["site"] != "tpa" || view.Fields["name"] == "" {
		t.Fatalf("tpa1/6109 after the moves: %+v %v", view, err)
	}
	hist, err := svc.History(ctx, "extensions", "lon/6109")
	if err != nil || len(hist) == 0 || !strings.Contains(hist[0].Author, "alice (move tpa1/6109 → lon/6109)") {
		t.Fatalf("history of lon/6109: %+v %v", hist, err)
	}

	// Onto a number the target cluster has: refused, nothing changes.
	before, _ := svc.List(ctx, "extensions", Query{})
	_, err = svc.Move(ctx, MoveRequest{From: "tpa1/5200", To: "sfo"})
	if !errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), "sfo/5200 already exists") {
		t.Fatalf("move onto sfo/5200: %v", err)
	}
	for _, bad := range []MoveRequest{{From: "tpa1/6109", To: "nosuch"}, {From: "tpa1/0000", To: "sfo"}, {From: "6109", To: "sfo"}, {From: "tpa1/6109"}} {
		if _, err := svc.Move(ctx, bad); err == nil {
			t.Fatalf("move %+v accepted", bad)
		}
	}
	after, _ := svc.List(ctx, "extensions", Query{})
	if before.Total != after.Total {
		t.Fatalf("refused moves changed the store: %d → %d extensions", before.Total, after.Total)
	}

	// The roaming report follows the store: 6102 roams; moved to sfo it
	// is reported there.
	if _, err := svc.Move(ctx, MoveRequest{From: "tpa1/6102", To: "sfo"}); err != nil {
		t.Fatal(err)
	}
	rep, err := svc.Roaming(ctx, roaming.Filter{Cluster: "sfo"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rep.Rows {
		found = found || r.Extension == "6102" && r.Cluster == "sfo"
	}
	if !found {
		t.Fatalf("the roaming report does not show 6102 on sfo: %+v", rep.Rows)
	}
}
