package ui

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
)

func member(node, cluster, status string) replicator.Member {
	return replicator.Member{Node: node, Status: status, Tags: map[string]string{replicator.TagCluster: cluster, replicator.TagSite: cluster[:3]}}
}

func TestBoardCells(t *testing.T) {
	in := boardInput{
		Here:     "tpa1",
		Clusters: []pbx.Fields{{"name": "tpa1", "site": "tpa"}, {"name": "tpa2", "site": "tpa"}, {"name": "sfo", "site": "sfo"}, {"name": "lon", "site": "lon"}},
		Services: []ServiceHealth{{Cluster: "tpa1", Voice: Up, Web: Degraded}, {Cluster: "tpa2", Voice: Down}, {Cluster: "sfo", Voice: Up, Web: Up}},
		Repl: &service.ReplStatus{Cluster: "tpa1", Mode: replicator.Ring, Links: []replicator.LinkStatus{
			{Peer: "tpa2", Connected: true, Behind: 0},
			{Peer: "sfo", Connected: true, Behind: 40, SecondsBehind: 12.4},
			{Peer: "lon", Connected: false, LastError: "dial tcp: connection refused"},
		}},
		DNS: []DNSCluster{{Cluster: "tpa1", State: Up}, {Cluster: "tpa2", State: Down}, {Cluster: "sfo", State: Degraded}},
		Members: []replicator.Member{
			member("tpa1-1", "tpa1", "alive"), member("tpa1-2", "tpa1", "alive"),
			member("tpa2-1", "tpa2", "alive"), member("tpa2-2", "tpa2", "failed"),
			member("sfo-1", "sfo", "left"),
			member("ams-1", "ams", "alive"), // runs, but is not in the clusters table
		},
	}
	b := buildBoard(in)
	var cols []string
	for _, c := range b.Columns {
		cols = append(cols, c.Cluster)
	}
	if !reflect.DeepEqual(cols, []string{"tpa1", "tpa2", "sfo", "lon", "ams"}) || !b.Columns[0].Here || b.Columns[1].Here {
		t.Fatalf("columns = %v", b.Columns)
	}
	want := map[string][]Cell{
		"Service availability": {
			{State: Warn, Text: "VOICE OK · WEB FAIL OVER"}, {State: Fail, Text: "VOICE DOWN"}, {State: OK, Text: "VOICE OK · WEB OK"},
			noData("no health report for this cluster"), noData("no health report for this cluster")},
		"Replication": {
			{State: OK, Text: "this cluster · ring", Detail: "0 changes applied here"},
			{State: OK, Text: "in sync", Detail: "0 changes applied from tpa2"},
			{State: Warn, Text: "40 behind · 12s"},
			{State: Fail, Text: "link down", Detail: "dial tcp: connection refused"},
			{State: None, Text: "no link", Detail: "in ring mode this agent does not pull from ams directly"}},
		"DNS SRV": {
			{State: OK, Text: "in SRV answers"}, {State: Fail, Text: "dropped from SRV"}, {State: Warn, Text: "answered, unhealthy"},
			noData("the DNS server does not serve this cluster"), noData("the DNS server does not serve this cluster")},
		"Membership": {
			{State: OK, Text: "2/2 alive"}, {State: Warn, Text: "1/2 alive", Detail: "tpa2-2 failed"}, {State: Fail, Text: "0/1 alive", Detail: "sfo-1 left"},
			{State: Warn, Text: "no agent seen", Detail: "no node of this cluster has joined the membership"}, {State: OK, Text: "1/1 alive"}},
	}
	for _, row := range b.Rows {
		if !reflect.DeepEqual(row.Cells, want[row.Name]) {
			t.Errorf("%s:\n got %+v\nwant %+v", row.Name, row.Cells, want[row.Name])
		}
	}
	for i, st := range []State{Warn, Fail, Fail, Fail, OK} {
		if b.Columns[i].State != st {
			t.Errorf("column %s state %v, want %v", b.Columns[i].Cluster, b.Columns[i].State, st)
		}
	}
}

func TestBoardWithoutParts(t *testing.T) {
	noAgent := &service.Error{Code: 400, Msg: "members needs a running agent: use --addr"}
	b := buildBoard(boardInput{Clusters: []pbx.Fields{{"name": "tpa1"}}, ServicesErr: errNotWired, DNSErr: errNotWired,
		ReplErr: noAgent, MembersErr: noAgent})
	for _, row := range b.Rows {
		if c := row.Cells[0]; c.State != None || c.Text != "no data" || c.Detail == "" {
			t.Errorf("%s: %+v, want no data with the reason", row.Name, c)
		}
	}
	if b.Columns[0].State != None {
		t.Errorf("column state %v", b.Columns[0].State)
	}
}

func TestReplicationLagTurnsRed(t *testing.T) {
	rs := &service.ReplStatus{Cluster: "a", Links: []replicator.LinkStatus{{Peer: "b", Connected: true, Behind: 3, SecondsBehind: lagFail.Seconds()}}}
	if c := replicationCell("b", rs, nil); c.State != Fail || c.Text != "3 behind · 5m0s" {
		t.Fatalf("lagging link: %+v", c)
	}
	rs.SkewSeen = 2
	if c := replicationCell("a", rs, nil); c.State != Warn || c.Text != "clock skew · 2 alarms" {
		t.Fatalf("skew: %+v", c)
	}
	rs.Links[0] = replicator.LinkStatus{Peer: "b"}
	if c := replicationCell("b", rs, nil); c.State != None || c.Text != "not contacted yet" {
		t.Fatalf("new link: %+v", c)
	}
}

func TestServiceRows(t *testing.T) {
	clusters := []pbx.Fields{
		{"name": "tpa1", "site": "tpa", "voice_vip": "192.168.0.218", "voice_servers": "192.168.0.216,192.168.0.215", "web_vip": "192.168.19.218", "web_servers": "192.168.19.212"},
		{"name": "sfo", "voice_vip": "192.168.100.218", "voice_servers": "192.168.100.212"},
	}
	rows := serviceRows(clusters, []ServiceHealth{{Cluster: "tpa1", Voice: Degraded, VoiceServer: "192.168.0.215", Web: Up}}, nil)
	if r := rows[0]; r.VoiceServer != "192.168.0.215" || r.WebServer != "192.168.19.212" || r.VoiceStatus.Text != "VOICE FAIL OVER" ||
		r.VoiceStatus.State != Warn || r.WebStatus.State != OK || r.ServersConfigured {
		t.Errorf("tpa1 = %+v", r)
	}
	if r := rows[1]; r.VoiceServer != "192.168.100.212" || r.VoiceStatus.State != None || !r.ServersConfigured {
		t.Errorf("sfo without a report = %+v", r)
	}
	rows = serviceRows(clusters, nil, errors.New("probe failed"))
	if r := rows[0]; r.VoiceServer != "192.168.0.216" || r.VoiceStatus.Detail != "probe failed" {
		t.Errorf("tpa1 without health = %+v", r)
	}
}

func TestConflictGrid(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cv := service.ConflictView{Ref: "extensions/sfo/5020", Table: "extensions", Key: "sfo/5020", Differ: []string{"name", "secret"},
		Fields: pbx.Fields{"cluster": "sfo", "regexten": "5020", "name": "Harry", "secret": "b", "zzz": "x"},
		Conflicts: []service.FieldConflictView{
			{Fields: []string{"name"}, Sides: []service.SideView{
				{Version: "sfo.1:7", Cluster: "sfo", Author: "bob", Time: now, Fields: pbx.Fields{"name": "Harry"}},
				{Version: "tpa1.1:9", Cluster: "tpa1", Author: "alice", Time: now, Fields: pbx.Fields{"name": "Harold"}},
				{Version: "tpa1.1:8", Cluster: "tpa1", Author: "carol", Time: now, Fields: pbx.Fields{"name": "H."}},
			}},
			{Fields: []string{"secret", "md5secret", "authuser"}, Sides: []service.SideView{
				{Version: "sfo.1:7", Cluster: "sfo", Author: "bob", Time: now, Fields: pbx.Fields{"secret": "b"}},
				{Version: "tpa1.1:9", Cluster: "tpa1", Author: "alice", Time: now, Fields: pbx.Fields{"secret": "a"}},
			}},
		}}
	g := conflictGrid(cv, reveal{})
	if len(g.Groups) != 2 || g.Groups[0].Field != "name" || g.Groups[1].Title != "secret + md5secret + authuser" {
		t.Fatalf("groups = %+v", g.Groups)
	}
	sides := g.Groups[0].Sides
	if len(sides) != 3 || !sides[0].Winner || sides[1].Winner || sides[1].Take != "tpa1" || sides[2].Take != "" {
		t.Fatalf("sides = %+v", sides)
	}
	if r := g.Groups[0].Rows[0]; !r.Differ || !reflect.DeepEqual(r.Values, []string{"Harry", "Harold", "H."}) {
		t.Errorf("name = %+v", r)
	}
	if r := g.Groups[1].Rows[0]; !r.Secret || !r.Differ || !reflect.DeepEqual(r.Values, []string{pbx.Redacted, pbx.Redacted}) {
		t.Errorf("secret = %+v", r)
	}
	var shown []string
	for _, r := range g.Shown {
		shown = append(shown, r.Field)
	}
	// Table order, empty fields left out, unknown fields last.
	if !reflect.DeepEqual(shown, []string{"cluster", "name", "regexten", "secret", "zzz"}) {
		t.Fatalf("shown = %v", shown)
	}
	if !reflect.DeepEqual(g.Clusters, []string{"sfo", "tpa1"}) {
		t.Fatalf("clusters = %v", g.Clusters)
	}
	if r := conflictGrid(cv, reveal{"secret", "sfo.1:7"}).Groups[1].Rows[0]; r.Values[0] != "b" || r.Values[1] != pbx.Redacted || r.Masked[0] || !r.Masked[1] {
		t.Errorf("one revealed secret = %+v", r)
	}
	if r := conflictGrid(cv, reveal{"name", "sfo.1:7"}).Groups[1].Rows[0]; r.Values[0] != pbx.Redacted {
		t.Errorf("revealing another field showed the secret: %+v", r)
	}
	for _, r := range conflictGrid(cv, reveal{"secret", "sfo.1:7"}).Shown {
		if r.Field == "secret" && r.Values[0] != pbx.Redacted {
			t.Errorf("the record as it shows reveals the secret: %+v", r)
		}
	}
	if cv.Conflicts[1].Sides[0].Fields["secret"] != "b" {
		t.Error("the grid changed the conflict it was given")
	}
}

func TestRefPathEscapesEachPart(t *testing.T) {
	for ref, want := range map[string]string{
		"extensions/sfo/5020": "/ui/conflicts/extensions/sfo/5020",
		"acls/a b?c#d":        "/ui/conflicts/acls/a%20b%3Fc%23d",
		"acls/..":             "/ui/conflicts/acls/..",
	} {
		if got := refPath(ref); got != want {
			t.Errorf("refPath(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestRoamingView(t *testing.T) {
	rep, _ := fakeRoaming{}.RoamingReport(bg, RoamingFilter{})
	v := roamingView(rep)
	states := map[string]State{}
	for _, r := range v.Rows {
		states[r.Cluster+"/"+r.Extension] = r.State
	}
	want := map[string]State{"tpa2/5020": OK, "sfo/5020": OK, "tpa2/5200": Warn, "tpa1/5200": Fail, "sfo/6179": OK, "ams/6179": OK}
	if !reflect.DeepEqual(states, want) {
		t.Fatalf("row states = %v", states)
	}
	if v.Numbers != 3 || v.Alerting["critical"] != 1 || v.Alerting["warning"] != 1 || v.Alerting["info"] != 0 {
		t.Fatalf("numbers %d, alerting %v", v.Numbers, v.Alerting)
	}
	if v.Findings[0].Severity != "critical" || v.Findings[2].State != None {
		t.Fatalf("findings order/acks = %+v", v.Findings)
	}
	for _, r := range v.Rows {
		if r.Cluster == "tpa1" && !reflect.DeepEqual(r.Findings, []string{"duplicate voicemail", "name mismatch"}) {
			t.Errorf("tpa1/5200 findings = %v", r.Findings)
		}
	}
}

func TestAgentCell(t *testing.T) {
	for _, c := range []struct {
		st   pbx.Fields
		want Cell
	}{
		{pbx.Fields{"extstatus": "0", "queue": "USSales1", "agentstatus": "logged in available", "ipaddr": "10.0.0.5"},
			Cell{OK, "USSales1 logged in available", "device idle · registered from 10.0.0.5"}},
		{pbx.Fields{"extstatus": "9"}, Cell{Warn, "in use, ringing", "device in use, ringing"}},
		{pbx.Fields{"extstatus": "4", "agentstatus": "logged out"}, Cell{Fail, "logged out", "device unavailable"}},
		{pbx.Fields{"extstatus": "-1"}, Cell{None, "—", ""}},
		{pbx.Fields{}, Cell{None, "—", ""}},
	} {
		if got := agentCell(c.st); got != c.want {
			t.Errorf("agentCell(%v) = %+v, want %+v", c.st, got, c.want)
		}
	}
	if vmText(pbx.Fields{"vmunread": "3"}) != "3 / 0" || callsText(pbx.Fields{"callsout": "5"}) != "0 / 0 / 5" || callsText(pbx.Fields{}) != "" {
		t.Error("vm or calls text")
	}
}

func TestGroupQuery(t *testing.T) {
	q, err := parseGroupQuery(url.Values{"group": {"IT"}, "sort": {"name"}, "desc": {"1"}, "page": {"3"}, "search": {" fen "}})
	if err != nil {
		t.Fatal(err)
	}
	aq := q.agentQuery(50)
	if aq.Sort != "name" || !aq.Desc || aq.Offset != 100 || aq.Limit != 50 || aq.Search != "fen" || aq.Group != "IT" {
		t.Fatalf("agent query = %+v", aq)
	}
	// The URL a page builds parses back to the same selection.
	u, _ := url.Parse(q.URL())
	if back, err := parseGroupQuery(u.Query()); err != nil || back != q {
		t.Fatalf("round trip %q = %+v %v", q.URL(), back, err)
	}
	if got := q.SortURL("name"); got != "/ui/groups?group=IT&search=fen&sort=name" {
		t.Errorf("SortURL(name) on a descending page = %q", got)
	}
	if got := (GroupQuery{Sort: "extension", Page: 1}).URL(); got != "/ui/groups" {
		t.Errorf("default URL = %q", got)
	}
	for _, bad := range []url.Values{{"sort": {"secret"}}, {"page": {"0"}}, {"page": {"x"}}} {
		if _, err := parseGroupQuery(bad); err == nil {
			t.Errorf("parseGroupQuery(%v) accepted", bad)
		}
	}
}
