package ui

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/browser"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
)

// replData is the sample enterprise with the replication status and lag
// history of an agent in a ring, which the test changes as it goes.
type replData struct {
	Data
	mu  sync.Mutex
	rs  *service.ReplStatus
	lag []replicator.LagSample
}

func (d *replData) ReplStatus(context.Context) (*service.ReplStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Through JSON, as `repl status -o json` and the HTTP client see it.
	b, err := json.Marshal(d.rs)
	if err != nil {
		return nil, err
	}
	var out service.ReplStatus
	return &out, json.Unmarshal(b, &out)
}

func (d *replData) LagHistory(context.Context) ([]replicator.LagSample, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lag, nil
}

func (d *replData) set(f func(*service.ReplStatus)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d.rs)
}

// linkJSON is a link as `pbxtopo repl status -o json` prints it.
type linkJSON struct {
	Peer   string  `json:"peer"`
	State  string  `json:"state"`
	Lag    float64 `json:"seconds_behind"`
	Behind uint64  `json:"changes_behind"`
}

func (d *replData) statusJSON(t *testing.T) map[string]linkJSON {
	t.Helper()
	rs, _ := d.ReplStatus(bg)
	b, _ := json.Marshal(rs)
	var out struct{ Links []linkJSON }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]linkJSON{}
	for _, l := range out.Links {
		m[l.Peer] = l
	}
	return m
}

// TestBoardTopologyInChromium looks at the status page as a person would:
// the topology picture draws the ring with each link's state and lag
// equal to what repl status says, the lag chart draws a line per peer,
// and when a link goes down the page shows it by itself, without a reload.
func TestBoardTopologyInChromium(t *testing.T) {
	if _, err := browser.Find(); errors.Is(err, browser.ErrNoChromium) {
		t.Skip(err)
	}
	now := time.Now()
	data := &replData{Data: sampleWithConflict(t), rs: ringStatus(), lag: []replicator.LagSample{
		{Time: now.Add(-40 * time.Minute), Peers: map[string]replicator.PeerLag{"tpa2": {}, "sfo": {}, "lon": {}}},
		{Time: now.Add(-20 * time.Minute), Peers: map[string]replicator.PeerLag{"tpa2": {Changes: 12, Seconds: 30}, "sfo": {Changes: 2, Seconds: 3}, "lon": {}}},
		{Time: now, Peers: map[string]replicator.PeerLag{"tpa2": {Changes: 40, Seconds: 75.5}, "sfo": {Changes: 2, Seconds: 3.25}, "lon": {}}},
	}}
	cfg := DefaultConfig()
	cfg.Live = time.Second
	u, err := New(cfg, Deps{Data: data, Cluster: "tpa1", Node: "tpa1-1", Audits: data.Data.(AuditSource),
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(u)
	defer srv.Close()
	shots := screenshotDir(t)

	p := launch(t, 1400)
	ctx, b, must := p.ctx, p.b, p.must
	type shown struct{ Peer, State, Lag, Behind, Colour string }
	links := func() map[string]shown {
		t.Helper()
		var ls []shown
		must(b.Eval(ctx, `[...document.querySelectorAll("#topology g.link")].map(g => ({Peer: g.dataset.peer, State: g.dataset.state,
			Lag: g.dataset.lag, Behind: g.dataset.behind, Colour: getComputedStyle(g.querySelector("line")).stroke}))`, &ls))
		m := map[string]shown{}
		for _, l := range ls {
			m[l.Peer] = l
		}
		return m
	}
	// agree checks every link the page draws against repl status.
	agree := func() map[string]shown {
		t.Helper()
		page, want := links(), data.statusJSON(t)
		if len(page) != len(want) {
			t.Fatalf("the picture draws %d links, repl status lists %d: %v", len(page), len(want), page)
		}
		for peer, w := range want {
			p := page[peer]
			lag, err := strconv.ParseFloat(p.Lag, 64)
			if p.State != w.State || err != nil || lag != w.Lag || p.Behind != strconv.FormatUint(w.Behind, 10) {
				t.Fatalf("link %s: the page shows %+v, repl status -o json %+v", peer, p, w)
			}
		}
		return page
	}

	must(b.Navigate(ctx, srv.URL+Prefix))
	var nodes []string
	must(b.Eval(ctx, `[...document.querySelectorAll("#topology g.node")].map(g => g.dataset.cluster)`, &nodes))
	if !reflect.DeepEqual(nodes, []string{"tpa1", "sfo", "lon", "tpa2", "ams"}) {
		t.Fatalf("nodes in the picture: %v (want the ring order, then ams)", nodes)
	}
	page := agree()
	for peer, colour := range map[string]string{"tpa2": "rgb(232, 113, 10)", "lon": "rgb(217, 48, 37)", "sfo": "rgb(232, 113, 10)"} {
		if page[peer].Colour != colour {
			t.Errorf("link %s is drawn %s, want %s", peer, page[peer].Colour, colour)
		}
	}
	var lines []string
	must(b.Eval(ctx, `[...document.querySelectorAll("#lagchart polyline.lag")].map(p => p.dataset.peer)`, &lines))
	if !reflect.DeepEqual(lines, []string{"lon", "sfo", "tpa2"}) {
		t.Fatalf("lag chart lines: %v", lines)
	}
	if cells, _ := b.Texts(ctx, "#board td"); !slices.Contains(cells, "40 behind · 1m16s") || !slices.Contains(cells, "dead · 0 behind · 0s") {
		t.Fatalf("the board's cells do not show the lag: %q", cells)
	}
	must(b.Screenshot(ctx, filepath.Join(shots, "status-topology.png")))

	// tpa2's link fails: the page, left alone, follows.
	must(b.Eval(ctx, "window.notReloaded = true", nil))
	data.set(func(rs *service.ReplStatus) {
		rs.Links[2].State, rs.Links[2].Connected, rs.Links[2].LastError = replicator.LinkFailing, false, "dial tcp 10.0.0.2:7947: connection refused"
		rs.Links[2].Behind, rs.Links[2].SecondsBehind = 41, 380
	})
	must(b.WaitFor(ctx, `document.querySelector('#topology g.link[data-peer="tpa2"]').dataset.state == "failing"`))
	var same bool
	must(b.Eval(ctx, "window.notReloaded === true", &same))
	if !same {
		t.Fatal("the page reloaded to show the change: it should update in place")
	}
	page = agree()
	if page["tpa2"].Colour != "rgb(217, 48, 37)" {
		t.Errorf("the failing link is drawn %s, want red", page["tpa2"].Colour)
	}
	var label string
	must(b.Eval(ctx, `document.querySelector('#topology g.link[data-peer="tpa2"] text').textContent`, &label))
	if label != "failing · 41 behind · 6m20s" {
		t.Errorf("the failing link's label: %q", label)
	}
	must(b.Screenshot(ctx, filepath.Join(shots, "status-topology-failing.png")))
}

// TestAuditAndHistoryInChromium: as an admin would, in a real browser:
// the findings tile counts the audit's critical findings, its page lists
// them, acknowledging one needs a reason and takes it out of the count,
// a record it names opens that record's history, and a cluster with no
// evidence that its Asterisk answers shows grey "no data" with why.
func TestAuditAndHistoryInChromium(t *testing.T) {
	if _, err := browser.Find(); errors.Is(err, browser.ErrNoChromium) {
		t.Skip(err)
	}
	svc := sampleWithConflict(t)
	yes := true
	u, err := New(DefaultConfig(), Deps{Data: svc, Cluster: "tpa1", Node: "tpa1-1", Audits: svc, Log: slog.New(slog.DiscardHandler),
		Services: ServicesFrom(fakeZone{{Cluster: "tpa1", Up: true, Members: &yes}, {Cluster: "sfo", Up: true, Members: &yes, Probe: &yes}})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(u)
	defer srv.Close()
	shots := screenshotDir(t)
	res, err := svc.Audit(bg, service.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	crit := strconv.Itoa(res.Alerting["critical"])

	p := launch(t, 1200)
	ctx, b, must, eval := p.ctx, p.b, p.must, p.eval

	must(b.Navigate(ctx, srv.URL+Prefix))
	if tile := eval(`document.querySelector("#tile-findings").innerText`); !strings.HasPrefix(tile, crit+" critical") {
		t.Fatalf("findings tile %q, the audit has %s critical", tile, crit)
	}
	// tpa1: membership only, grey with why; sfo: probed, green.
	var voice []struct{ Text, Title, Class string }
	must(b.Eval(ctx, `[...document.querySelectorAll("#board tbody tr:first-child td")].map(td => ({Text: td.innerText, Title: td.title, Class: td.className}))`, &voice))
	var greyWhy, green bool
	for _, c := range voice {
		greyWhy = greyWhy || c.Text == "no data" && strings.Contains(c.Class, "s-none") && strings.Contains(c.Title, "no evidence that Asterisk answers")
		green = green || c.Text == "VOICE OK" && strings.Contains(c.Class, "s-ok")
	}
	if !greyWhy || !green {
		t.Fatalf("service availability cells: %+v", voice)
	}

	must(b.ClickAndWait(ctx, `header nav a[href="/ui/audit"]`))
	const id = "SEC-WEAK-SECRET:tpa2:5102"
	row := `#audit tr[data-finding="` + id + `"]`
	if bg := eval(`getComputedStyle(document.querySelector('` + row + ` td.cell')).backgroundColor`); bg != "rgb(217, 48, 37)" {
		t.Fatalf("a critical finding is %s, not red", bg)
	}
	must(b.Screenshot(ctx, filepath.Join(shots, "audit.png")))
	// The reason is required: the browser does not send the form without it.
	must(b.Click(ctx, row+` button.ack`))
	if p := eval("location.search"); p != "" {
		t.Fatalf("the form was sent without a reason: %s", p)
	}
	must(b.SetValue(ctx, row+` input[name=why]`, "lab phone, secret rotated on Friday"))
	must(b.ClickAndWait(ctx, row+` button.ack`))
	if f := eval(`document.querySelector("#flash").innerText`); !strings.HasPrefix(f, "Acknowledged "+id) {
		t.Fatalf("after acknowledging: %q", f)
	}
	if a := eval(`document.querySelector('` + row + ` .ack').innerText`); !strings.Contains(a, "acknowledged by local") || !strings.Contains(a, "secret rotated on Friday") {
		t.Fatalf("the acknowledgement shows as %q", a)
	}
	must(b.Screenshot(ctx, filepath.Join(shots, "audit-acknowledged.png")))
	must(b.Navigate(ctx, srv.URL+Prefix))
	want := strconv.Itoa(res.Alerting["critical"] - 1)
	if tile := eval(`document.querySelector("#tile-findings").innerText`); !strings.HasPrefix(tile, want+" critical") {
		t.Fatalf("after the acknowledgement the tile says %q, want %s critical", tile, want)
	}

	must(b.Navigate(ctx, srv.URL+Prefix+"audit"))
	must(b.ClickAndWait(ctx, `#audit tr[data-finding="ROAM-NAME-MISMATCH:5020"] a[href="/ui/history/extensions/sfo/5020"]`))
	var authors []string
	must(b.Eval(ctx, `[...document.querySelectorAll("#history tbody td:nth-child(3)")].map(td => td.innerText)`, &authors))
	if !slices.Contains(authors, "alice") || !slices.Contains(authors, "bob") {
		t.Fatalf("history of sfo/5020: authors %q", authors)
	}
	if body := eval("document.body.innerText"); strings.Contains(body, "TpaSecret") || strings.Contains(body, "SfoSecret") {
		t.Fatal("the history page shows a secret")
	}
	must(b.Screenshot(ctx, filepath.Join(shots, "history.png")))
}
