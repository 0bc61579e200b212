package ami_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/store"
)

// standbyNode is a Sender for a node whose Asterisk has no phones.
type standbyNode struct{ offline }

// twoNodes returns the store of tpa1 with status written by two nodes: ast1
// (active, 5021 registered, one trunk rejected) and ast2 (standby).
func twoNodes(t *testing.T) (*store.Store, *ami.Collector, *ami.Collector, *fakeClock) {
	st := openStore(t, "5060")
	clock := &fakeClock{time.Now()}
	mk := func(node string, local bool) *ami.Collector {
		cfg := testConfig(node)
		cfg.VIP = "127.0.0.1:5060"
		c, err := ami.New(cfg, ami.ClientConfig{}, ami.Deps{Store: st, AMI: standbyNode{}, Now: clock.now,
			Probe:     func(context.Context, string, time.Duration) (time.Duration, error) { return 3 * time.Millisecond, nil },
			LocalAddr: func(string) bool { return local }})
		if err != nil {
			t.Fatal(err)
		}
		c.Refresh(context.Background())
		c.ProbeVIP(context.Background())
		return c
	}
	c1, c2 := mk("ast1", true), mk("ast2", false)
	c1.HandleEvent(amitest.M("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/harry", "PeerStatus", "Registered", "Address", "10.0.0.6:5062"))
	c1.HandleEvent(amitest.M("Event", "Registry", "ChannelType", "SIP", "Username", "0113", "Domain", "172.20.15.1", "Status", "Rejected"))
	for _, c := range []*ami.Collector{c1, c2} {
		if _, err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return st, c1, c2, clock
}

func TestStatusOfTwoNodesAndReplicationWithoutConflicts(t *testing.T) {
	st, c1, c2, _ := twoNodes(t)
	if e := statusEntries(t, st, "ext/tpa1/5021/"); len(e) != 2 {
		t.Fatalf("want one entry per node for 5021: %v", e)
	}
	if f := extStatus(t, st, "5021"); f["regstatus"] != "registered" || f["node"] != "ast1" {
		t.Fatalf("merged 5021 = %v, want ast1's registered view", f)
	}
	// Ship tpa1's status to sfo the way a replicator would: what each
	// node's feed says changed, stored under the same keys.
	sfo := testutil.Store(t, "sfo")
	var before map[string]store.Digest
	var sumBefore store.Summary
	sfo.View(func(sn *store.Snapshot) error { before, _ = sn.Digests(); sumBefore, _ = sn.Summary(); return nil })
	for _, c := range []*ami.Collector{c2, c1} {
		entries, _, ok := c.ChangesSince(0)
		if !ok {
			t.Fatal("feed lost")
		}
		if err := sfo.PutStatus(context.Background(), entries); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := statusEntries(t, sfo, ""), statusEntries(t, st, ""); !reflect.DeepEqual(got, want) {
		t.Fatalf("sfo holds %d status entries, tpa1 %d", len(got), len(want))
	}
	if f := extStatus(t, sfo, "5021"); f["regstatus"] != "registered" {
		t.Fatalf("5021 at sfo = %v", f)
	}
	conflicts := 0
	sfo.View(func(sn *store.Snapshot) error {
		after, _ := sn.Digests()
		sum, _ := sn.Summary()
		sn.Conflicts(func(*store.Record) error { conflicts++; return nil })
		if !reflect.DeepEqual(before, after) || !sum.Equal(sumBefore) {
			t.Errorf("status changed sfo's digests or summary: it must stay out of them")
		}
		return nil
	})
	if conflicts != 0 {
		t.Fatalf("%d conflicts", conflicts)
	}
	if !ami.NewHealthView(sfo, time.Minute, nil).Up("tpa1") {
		t.Fatal("sfo does not see tpa1 up")
	}
}

func TestHealthView(t *testing.T) {
	st, _, _, clock := twoNodes(t)
	hv := ami.NewHealthView(st, time.Minute, clock.now)
	h := hv.Cluster("tpa1")
	if !h.Known || !h.Up || len(h.Nodes) != 2 {
		t.Fatalf("health %+v", h)
	}
	if !hv.Up("nosuchcluster") || hv.Cluster("nosuchcluster").Known {
		t.Fatal("a cluster nobody reported on must not count as down")
	}
	clock.t = clock.t.Add(time.Hour)
	h = hv.Cluster("tpa1")
	if h.Up || hv.Up("tpa1") || !strings.Contains(h.Reason, "no heartbeat") {
		t.Fatalf("stale health: %+v", h)
	}
}

func TestReport(t *testing.T) {
	st, _, _, clock := twoNodes(t)
	var r *ami.Report
	st.View(func(sn *store.Snapshot) error {
		var err error
		r, err = ami.BuildReport(sn, "tpa1", "", clock.t, time.Minute)
		return err
	})
	if r.Node != "ast1" || r.Role != "active" || r.Verdict != "DEGRADED" || len(r.Trunks) != 2 || r.Extensions.Registered != 1 || r.Extensions.Configured != 3 {
		t.Fatalf("report %+v", r)
	}
	var buf bytes.Buffer
	r.WriteText(&buf)
	out := buf.String()
	for _, want := range []string{"This node is ACTIVE", "VIP service address 127.0.0.1:5060 reachable (0 ms)",
		"talktalk trunk SIP 172.20.15.1 NOT available (registration rejected", "Extensions: 3 configured, 1 registered",
		"Cluster node ast2: AMI connected, role standby", "PROBLEM: trunk talktalk NOT available", "- NOW IN DEGRADED STATE -"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b, _ := json.Marshal(r)
	for _, key := range []string{`"verdict":"DEGRADED"`, `"role":"active"`, `"trunks":[`, `"store":{`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("json lacks %s: %s", key, b)
		}
	}
	st.View(func(sn *store.Snapshot) error {
		r, _ = ami.BuildReport(sn, "tpa1", "ast2", clock.t, time.Minute)
		return nil
	})
	if r.Node != "ast2" || r.Role != "standby" {
		t.Fatalf("report of ast2: %+v", r)
	}
	st.View(func(sn *store.Snapshot) error {
		r, _ = ami.BuildReport(sn, "tpa1", "", clock.t.Add(time.Hour), time.Minute)
		return nil
	})
	if r.Verdict != "DOWN" {
		t.Fatalf("stale report verdict %s", r.Verdict)
	}
	st.View(func(sn *store.Snapshot) error {
		r, _ = ami.BuildReport(sn, "tpa2", "", clock.t, time.Minute)
		return nil
	})
	if r.Verdict != "UNKNOWN" || !strings.Contains(strings.Join(r.Problems, ""), "ami.user") {
		t.Fatalf("report without health: %+v", r)
	}
}
