package agent_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// rounds is how many rounds the integrity probes run; the issue's
// acceptance run uses -integrity.rounds=1000.
var rounds = flag.Int("integrity.rounds", 30, "rounds of the concurrent-edit probes")

// seedSample imports the guide's sample enterprise through api.
func seedSample(t *testing.T, api service.API) {
	t.Helper()
	for _, table := range pbx.TableNames() {
		path := filepath.Join("..", "testdata", "enterprise", table+".csv")
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = api.Import(context.Background(), service.ImportRequest{Table: table, Source: path}, fh)
		fh.Close()
		if err != nil {
			t.Fatalf("import %s: %v", table, err)
		}
	}
}

func newCA(t *testing.T) string {
	t.Helper()
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	return caDir
}

func client(t *testing.T, a *agent.Agent) *httpapi.Client {
	t.Helper()
	c, err := httpapi.NewClient(a.APIAddr(), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConcurrentPatchesKeepEveryField sends four PATCHes of four
// different fields of one extension at the same moment to one agent, many
// times: every acknowledged field is there afterwards. A merge made from a
// read taken before the write transaction loses about half of them.
func TestConcurrentPatchesKeepEveryField(t *testing.T) {
	a, _ := agenttest.Start(t, newCA(t), "tpa1", agenttest.Options{})
	c := client(t, a)
	seedSample(t, c)
	ctx := context.Background()
	fields := []string{"fullcontact", "callerid", "fromuser", "accountcode"}
	lost := 0
	for round := 0; round < *rounds; round++ {
		var wg sync.WaitGroup
		errs := make([]error, len(fields))
		for i, f := range fields {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", f: fmt.Sprintf("r%d", round)},
					service.PutOptions{Merge: true})
			}()
		}
		wg.Wait()
		view, err := c.Get(ctx, "extensions", "tpa1/6105")
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range fields {
			if errs[i] != nil {
				t.Fatalf("round %d: set %s: %v", round, f, errs[i])
			}
			if view.Fields[f] != fmt.Sprintf("r%d", round) {
				lost++
				t.Errorf("round %d: %s acknowledged as r%d, now %q (conflict %v)", round, f, round, view.Fields[f], view.Conflict)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged field updates lost", lost, *rounds*len(fields))
	}
}

// TestLeaderThenFollowerEdit runs a cluster of three Raft nodes: a field
// set through the leader, then another field set through a follower. The
// follower must not merge into its older copy and write it back: both
// changes survive, or the second is flagged, never silently undone.
func TestLeaderThenFollowerEdit(t *testing.T) {
	caDir := newCA(t)
	extra := map[string]any{"raft.expect": 3}
	var nodes []*agent.Agent
	var join []string
	for i := 1; i <= 3; i++ {
		a, _ := agenttest.Start(t, caDir, "tpa1", agenttest.Options{Node: fmt.Sprintf("tpa1-%d", i), Join: join, Extra: extra})
		if join == nil {
			join = []string{a.GossipAddr()}
		}
		nodes = append(nodes, a)
	}
	ctx := context.Background()
	var leader *agent.Agent
	var followers []*agent.Agent
	waitUntil(t, 30*time.Second, "a leader with two voters", func() bool {
		leader, followers = nil, nil
		for _, a := range nodes {
			st, err := a.Service().RaftStatus(ctx)
			if err != nil || len(st.Servers) != 3 {
				return false
			}
			if st.State == "leader" {
				leader = a
			} else {
				followers = append(followers, a)
			}
		}
		return leader != nil && len(followers) == 2
	})
	lc := client(t, leader)
	seedSample(t, lc)
	fc := client(t, followers[0])
	lost := 0
	for round := 0; round < *rounds; round++ {
		want := pbx.Fields{"fullcontact": fmt.Sprintf("leader %d", round), "callerid": fmt.Sprintf("follower %d", round)}
		if _, err := lc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "fullcontact": want["fullcontact"]}, service.PutOptions{Merge: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := fc.Put(ctx, "extensions", pbx.Fields{"cluster": "tpa1", "regexten": "6105", "callerid": want["callerid"]}, service.PutOptions{Merge: true}); err != nil {
			t.Fatal(err)
		}
		view, err := lc.Fresh().Get(ctx, "extensions", "tpa1/6105")
		if err != nil {
			t.Fatal(err)
		}
		for f, v := range want {
			if view.Fields[f] != v && !view.Conflict {
				lost++
				t.Errorf("round %d: %s acknowledged as %q, now %q with no conflict", round, f, v, view.Fields[f])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged field updates silently undone", lost, *rounds*2)
	}
}

// TestConcurrentTopologyChangesBothHold changes the ring order and the
// site-only tables at the same moment, many times: both changes hold.
// Each used to rewrite the whole record from this node's view of it,
// refreshed once a second, undoing the other.
func TestConcurrentTopologyChangesBothHold(t *testing.T) {
	a, _ := agenttest.Start(t, newCA(t), "tpa1", agenttest.Options{})
	svc := a.Service()
	ctx := service.WithRole(context.Background(), service.RoleAdmin, "test")
	orders := [][]string{{"tpa1", "sfo", "lon"}, {"tpa1", "lon", "sfo"}}
	tables := [][]string{{"hotdesks"}, {"hotdesks", "hours"}}
	for round := 0; round < 20; round++ {
		order, site := orders[round%2], tables[round%2]
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() { defer wg.Done(); _, errs[0] = svc.SetTopology(ctx, service.TopologyChange{Order: order}) }()
		go func() { defer wg.Done(); _, errs[1] = svc.SetTopology(ctx, service.TopologyChange{SiteTables: site}) }()
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatal(errs)
		}
		var got replicator.Topology
		a.Store().View(func(sn *store.Snapshot) error {
			var err error
			got, err = replicator.ReadTopology(sn, replicator.Topology{})
			return err
		})
		if fmt.Sprint(got.Order) != fmt.Sprint(order) || fmt.Sprint(got.SiteTables) != fmt.Sprint(site) {
			t.Fatalf("round %d: order %v and site tables %v acknowledged, topology now %+v", round, order, site, got)
		}
	}
}
