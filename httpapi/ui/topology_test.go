package ui

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/srv"
)

var topoNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ringStatus is tpa1's status in the ring tpa1 → sfo → lon → tpa2: it
// pulls from tpa2, which is 40 changes behind; lon is dead; sfo is
// reached through others.
func ringStatus() *service.ReplStatus {
	return &service.ReplStatus{Cluster: "tpa1", Mode: replicator.Ring, Order: []string{"tpa1", "sfo", "lon", "tpa2"},
		Links: []replicator.LinkStatus{
			{Peer: "lon", State: replicator.LinkDead, Detail: "membership reports lon dead"},
			{Peer: "sfo", State: replicator.LinkIndirect, Behind: 2, SecondsBehind: 3.25},
			{Peer: "tpa2", State: replicator.LinkConnected, Connected: true, Behind: 40, SecondsBehind: 75.5, LastContact: topoNow.Add(-2 * time.Second)},
		}}
}

func TestTopologyPictureRing(t *testing.T) {
	p := topologyPicture(ringStatus(), []string{"tpa1", "tpa2", "sfo", "lon", "ams"}, topoNow)
	var nodes []string
	for _, n := range p.Nodes {
		nodes = append(nodes, n.Cluster)
	}
	// Ring order first, clockwise from the top, then the clusters outside
	// the ring.
	if !reflect.DeepEqual(nodes, []string{"tpa1", "sfo", "lon", "tpa2", "ams"}) || !p.Nodes[0].Here || p.Nodes[1].Here {
		t.Fatalf("nodes = %+v", p.Nodes)
	}
	if p.Nodes[0].X != topoW/2 || p.Nodes[0].Y != topoH/2-topoRadius {
		t.Errorf("the first cluster is not at the top: %+v", p.Nodes[0])
	}
	if len(p.Edges) != 4 { // tpa1→sfo→lon→tpa2→tpa1
		t.Errorf("ring edges = %d, want 4", len(p.Edges))
	}
	want := map[string]struct {
		state, lag, class, label string
		behind                   uint64
		dashed                   bool
	}{
		"lon":  {replicator.LinkDead, "0", Fail.Class(), "dead", 0, true},
		"sfo":  {replicator.LinkIndirect, "3.25", Warn.Class(), "via others · 2 behind · 3s", 2, true},
		"tpa2": {replicator.LinkConnected, "75.5", Warn.Class(), "40 behind · 1m16s", 40, false}, // red from lagFail on
	}
	if len(p.Links) != len(want) {
		t.Fatalf("links = %+v", p.Links)
	}
	for _, l := range p.Links {
		w := want[l.Peer]
		if l.State != w.state || l.Lag != w.lag || l.Class != w.class || l.Label != w.label || l.Behind != w.behind || l.Dashed != w.dashed {
			t.Errorf("link %s = %+v, want %+v", l.Peer, l, w)
		}
	}
	if d := p.Links[2].Detail; !strings.Contains(d, "last contact 2s ago") || !strings.Contains(d, "tpa2 → tpa1") {
		t.Errorf("tpa2's detail: %q", d)
	}
	if d := p.Links[0].Detail; !strings.Contains(d, "membership reports lon dead") {
		t.Errorf("lon's detail: %q", d)
	}
}

func TestTopologyPictureShapes(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	mesh := topologyPicture(&service.ReplStatus{Cluster: "a", Mode: replicator.Mesh}, names, topoNow)
	if len(mesh.Edges) != 6 {
		t.Errorf("mesh of 4: %d edges, want 6", len(mesh.Edges))
	}
	prim := topologyPicture(&service.ReplStatus{Cluster: "b", Mode: replicator.Primary, Primary: "c"}, names, topoNow)
	if len(prim.Edges) != 3 {
		t.Errorf("primary with 3 others: %d edges, want 3", len(prim.Edges))
	}
	for _, n := range prim.Nodes {
		if n.Primary != (n.Cluster == "c") {
			t.Errorf("node %+v: only c is the primary", n)
		}
	}
	follower := topologyPicture(&service.ReplStatus{Cluster: "a", Mode: replicator.Mesh, RunsOn: "a-2"}, names, topoNow)
	if len(follower.Links) != 0 || !strings.Contains(follower.Note, "a-2") {
		t.Errorf("a follower: %+v", follower)
	}
}

func TestLagChart(t *testing.T) {
	if c := lagChart(nil, topoNow); len(c.Lines) != 0 || c.Note == "" {
		t.Fatalf("no samples: %+v", c)
	}
	samples := []replicator.LagSample{
		{Time: topoNow.Add(-2 * time.Hour), Peers: map[string]replicator.PeerLag{"sfo": {Seconds: 1}}}, // before the hour: at the left edge
		{Time: topoNow.Add(-30 * time.Minute), Peers: map[string]replicator.PeerLag{"sfo": {Changes: 3, Seconds: 12.2}, "lon": {}}},
		{Time: topoNow, Peers: map[string]replicator.PeerLag{"sfo": {}, "lon": {}}},
	}
	c := lagChart(samples, topoNow)
	if c.Max != 13 || c.Samples != 3 || len(c.Lines) != 2 {
		t.Fatalf("chart = %+v", c)
	}
	lon, sfo := c.Lines[0], c.Lines[1]
	if lon.Peer != "lon" || sfo.Peer != "sfo" || sfo.Worst != "12.2 s" || lon.Worst != "0.0 s" {
		t.Fatalf("lines = %+v", c.Lines)
	}
	// x: 4 + 592 × (the sample's part of the hour); y: 136 − 132 × seconds/13.
	wantSfo := []string{"4,125.8", "300,12.1", "596,136"}
	if got := strings.Fields(sfo.Points); !reflect.DeepEqual(got, wantSfo) {
		t.Errorf("sfo points = %v, want %v", got, wantSfo)
	}
	if got := strings.Fields(lon.Points); !reflect.DeepEqual(got, []string{"300,136", "596,136"}) {
		t.Errorf("lon points = %v", got)
	}
}

// fakeZone is an agent's health view.
type fakeZone []srv.ClusterHealth

func (f fakeZone) Zone(context.Context, string) (*service.ZoneView, error) {
	v := &service.ZoneView{Live: true, Health: f}
	for _, h := range f {
		if !h.Up {
			v.Down = append(v.Down, h.Cluster)
		}
	}
	return v, nil
}

// TestVoiceNeedsEvidence: a cluster is VOICE OK only when a SIP probe or
// an AMI collector says Asterisk answers; live membership alone is grey,
// with why.
func TestVoiceNeedsEvidence(t *testing.T) {
	yes, no := true, false
	hs, err := ServicesFrom(fakeZone{
		{Cluster: "tpa1", Up: true, Members: &yes},
		{Cluster: "tpa2", Up: true, Members: &yes, Probe: &yes, Target: "192.168.0.218:5060", RTTMillis: 1.5},
		{Cluster: "sfo", Up: true, Members: &yes, Asterisk: &yes},
		{Cluster: "lon", Up: false, Members: &yes, Asterisk: &no},
	}).ServiceAvailability(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Health{"tpa1": "", "tpa2": Up, "sfo": Up, "lon": Down}
	for _, h := range hs {
		if h.Voice != want[h.Cluster] {
			t.Errorf("%s: voice %q, want %q (%s)", h.Cluster, h.Voice, want[h.Cluster], h.Detail)
		}
	}
	if d := hs[0].Detail; !strings.Contains(d, "no evidence that Asterisk answers") || !strings.Contains(d, "dns.probe.enabled") {
		t.Errorf("tpa1's detail does not say why: %q", d)
	}
	c := serviceCell("tpa1", hs, nil)
	if c.State != None || c.Text != "no data" || !strings.Contains(c.Detail, "no evidence") {
		t.Errorf("tpa1's board cell: %+v, want grey no data with why", c)
	}
	if c := serviceCell("sfo", hs, nil); c.State != OK || c.Text != "VOICE OK" || !strings.Contains(c.Detail, "Asterisk over AMI up") {
		t.Errorf("sfo's board cell: %+v", c)
	}
}

func TestLinkCellStates(t *testing.T) {
	for _, tc := range []struct {
		l    replicator.LinkStatus
		want Cell
	}{
		{replicator.LinkStatus{Peer: "b", State: replicator.LinkConnected, Applied: 7}, Cell{State: OK, Text: "in sync · 0 behind · 0s", Detail: "7 changes applied from b"}},
		{replicator.LinkStatus{Peer: "b", State: replicator.LinkConnected, Behind: 3, SecondsBehind: 400}, Cell{State: Fail, Text: "3 behind · 6m40s", Detail: "0 changes applied from b"}},
		{replicator.LinkStatus{Peer: "b", State: replicator.LinkFailing, Behind: 1, SecondsBehind: 2, LastError: "refused"}, Cell{State: Fail, Text: "link down · 1 behind · 2s", Detail: "refused"}},
		{replicator.LinkStatus{Peer: "b", State: replicator.LinkDead, Detail: "membership reports b dead"}, Cell{State: Fail, Text: "dead · 0 behind · 0s", Detail: "membership reports b dead"}},
		{replicator.LinkStatus{Peer: "b", State: replicator.LinkIndirect}, Cell{State: None, Text: "via others · 0 behind · 0s"}},
		{replicator.LinkStatus{Peer: "b", State: replicator.LinkIndirect, Behind: 2, SecondsBehind: 1}, Cell{State: Warn, Text: "via others · 2 behind · 1s"}},
	} {
		if got := linkCell(tc.l); got != tc.want {
			t.Errorf("%+v:\n got %+v\nwant %+v", tc.l, got, tc.want)
		}
	}
}
