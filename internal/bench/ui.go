package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/pbxtopo/pbxtopo/httpapi/ui"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// UI measures the web pages in process (handler and templates, no
// network): the enterprise status page for 10 clusters against reading
// its data alone, and one page of the group status over the extensions.
func UI(ctx context.Context, env Env) ([]Result, error) {
	n, nExt := 300, 20_000
	if env.Quick {
		n, nExt = 30, 2_000
	}
	env.Param("renders", n)
	env.Param("extensions", nExt)
	env.Param("clusters", 10)
	f, err := NewUIFixture(env.Dir, 10, nExt)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	page := func(path string) func() error {
		return func() error {
			rec := httptest.NewRecorder()
			f.Handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			if rec.Code != http.StatusOK {
				return fmt.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
			}
			return nil
		}
	}
	status, err := timeN(n, page(ui.Prefix))
	if err != nil {
		return nil, err
	}
	data, err := timeN(n, f.ReadStatusData)
	if err != nil {
		return nil, err
	}
	audit, err := timeN(max(n/10, 5), f.Audit)
	if err != nil {
		return nil, err
	}
	groups, err := timeN(max(n/10, 5), page(ui.Prefix+"groups?group=USSales&sort=name"))
	if err != nil {
		return nil, err
	}
	return []Result{
		{Name: "status page, 10 clusters: p99 render", Value: ms(Percentile(status, 99)), Unit: "ms",
			Anchor: "reading its data alone, p99", AnchorValue: ms(Percentile(data, 99)), Goal: "< 100 ms",
			Note: fmt.Sprintf("median %.2f ms", ms(Percentile(status, 50)))},
		{Name: fmt.Sprintf("audit for the findings tile (%d extensions; reused 10 s): p99", nExt), Value: ms(Percentile(audit, 99)), Unit: "ms",
			Note: fmt.Sprintf("median %.2f ms", ms(Percentile(audit, 50)))},
		{Name: fmt.Sprintf("group status page (200 rows of %d extensions, sorted by name): p99", nExt),
			Value: ms(Percentile(groups, 99)), Unit: "ms", Note: fmt.Sprintf("median %.2f ms", ms(Percentile(groups, 50)))},
	}, nil
}

func timeN(n int, fn func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

// UIFixture is the pages over a synthetic enterprise of n clusters, as
// the agent of the first cluster serves them: a real store, and static
// stand-ins for replication, membership and the optional sources.
type UIFixture struct {
	Handler http.Handler
	svc     *service.Service
	deps    ui.Deps
	st      *store.Store
}

// NewUIFixture builds the fixture in dir.
func NewUIFixture(dir string, clusters, extensions int) (*UIFixture, error) {
	files, err := Enterprise{Clusters: clusters, Extensions: extensions, Roaming: 0.3, Seed: 1}.Write(dir)
	if err != nil {
		return nil, err
	}
	cfg := storeConfig(filepath.Join(dir, "ui.db"))
	cfg.Replica = ClusterName(0)
	st, err := store.Open(cfg)
	if err != nil {
		return nil, err
	}
	names := make([]string, clusters)
	for i := range names {
		names[i] = ClusterName(i)
	}
	repl := staticRepl{names: names}
	svc := service.NewServiceWith(st, service.Deps{Repl: repl, Members: repl.members, Cluster: names[0], Node: names[0] + "-1"})
	for _, p := range files {
		fh, err := os.Open(p)
		if err != nil {
			st.Close()
			return nil, err
		}
		_, err = svc.Import(context.Background(), service.ImportRequest{Table: filepath.Base(p[:len(p)-4]), Source: p}, fh)
		fh.Close()
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	f := &UIFixture{svc: svc, st: st}
	f.deps = ui.Deps{Data: svc, Cluster: names[0], Node: names[0] + "-1", Services: repl, DNS: repl, Roaming: repl, Audits: svc}
	u, err := ui.New(ui.DefaultConfig(), f.deps)
	if err != nil {
		st.Close()
		return nil, err
	}
	f.Handler = u
	return f, nil
}

// ReadStatusData reads what the status page shows, without rendering.
func (f *UIFixture) ReadStatusData() error {
	ctx := context.Background()
	if _, err := f.svc.List(ctx, "clusters", service.Query{}); err != nil {
		return err
	}
	if _, err := f.svc.Members(ctx); err != nil {
		return err
	}
	if _, err := f.svc.ReplStatus(ctx); err != nil {
		return err
	}
	if _, err := f.svc.Conflicts(ctx); err != nil {
		return err
	}
	if _, err := f.svc.LagHistory(ctx); err != nil {
		return err
	}
	f.deps.Services.ServiceAvailability(ctx)
	_, err := f.deps.DNS.DNSStatus(ctx)
	return err // the findings tile reuses the audit's counts: measured apart (Audit)
}

// Audit runs the audit whose counts the status page's findings tile
// shows (at most once every 10 s).
func (f *UIFixture) Audit() error {
	_, err := f.svc.Audit(context.Background(), service.AuditQuery{})
	return err
}

// Close closes the store.
func (f *UIFixture) Close() error { return f.st.Close() }

// staticRepl stands in for the running parts of an agent: every link in
// sync, every member alive, every service up, a roaming report of 50
// numbers with 10 findings.
type staticRepl struct{ names []string }

func (s staticRepl) Status() []replicator.LinkStatus {
	var out []replicator.LinkStatus
	for _, n := range s.names[1:] {
		out = append(out, replicator.LinkStatus{Peer: n, Connected: true, LastContact: time.Now(), Applied: 1000})
	}
	return out
}

func (s staticRepl) Topology() replicator.Topology {
	return replicator.Topology{Mode: replicator.Mesh}
}

func (s staticRepl) CheckWrite(string) error { return nil }

func (s staticRepl) Clusters(*store.Snapshot) ([]string, error) { return s.names, nil }

func (s staticRepl) members() []replicator.Member {
	var out []replicator.Member
	for i, n := range s.names {
		for j := 1; j <= 2; j++ {
			out = append(out, replicator.Member{Node: fmt.Sprintf("%s-%d", n, j), Addr: fmt.Sprintf("127.0.0.%d:7946", i+1), Status: "alive",
				Tags: map[string]string{replicator.TagCluster: n, replicator.TagSite: fmt.Sprintf("s%02d", i/2)}})
		}
	}
	return out
}

func (s staticRepl) ServiceAvailability(context.Context) ([]ui.ServiceHealth, error) {
	var out []ui.ServiceHealth
	for i, n := range s.names {
		out = append(out, ui.ServiceHealth{Cluster: n, Voice: ui.Up, VoiceServer: fmt.Sprintf("10.%d.0.216", i), Web: ui.Up})
	}
	return out, nil
}

func (s staticRepl) DNSStatus(context.Context) ([]ui.DNSCluster, error) {
	var out []ui.DNSCluster
	for _, n := range s.names {
		out = append(out, ui.DNSCluster{Cluster: n, State: ui.Up})
	}
	return out, nil
}

func (s staticRepl) RoamingReport(context.Context, ui.RoamingFilter) (*ui.RoamingReport, error) {
	rep := &ui.RoamingReport{}
	for i := 0; i < 50; i++ {
		num := fmt.Sprint(100000 + i)
		for _, c := range []string{s.names[i%len(s.names)], s.names[(i+1)%len(s.names)]} {
			rep.Rows = append(rep.Rows, ui.RoamingRow{Extension: num, Cluster: c, Group: "USSales", Name: "User " + num, Roaming: true, Mailbox: num, Voicemail: "duplicate"})
		}
		if i%5 == 0 {
			rep.Findings = append(rep.Findings, ui.RoamingFinding{ID: "ROAM-DUP-VM:" + num, Rule: "ROAM-DUP-VM", Title: "duplicate voicemail",
				Severity: "warning", Summary: "box " + num + " on two clusters", Records: []string{"extensions/" + s.names[i%len(s.names)] + "/" + num}})
		}
	}
	return rep, nil
}
