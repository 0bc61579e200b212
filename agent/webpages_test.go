package agent_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/agent/agenttest"
	"github.com/pbxtopo/pbxtopo/httpapi/ui"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/service"
)

// TestStatusBoardOverRealAgents runs two agents that replicate and gossip
// for real, and watches the status page follow them: both alive and in
// sync, then the other cluster gone. (It lives here, not in httpapi/ui:
// agenttest imports the agent, which imports the pages.)
func TestStatusBoardOverRealAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two agents")
	}
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := pki.CreateCA(caDir, "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	tpa1, _ := agenttest.Start(t, caDir, "tpa1", agenttest.Options{Extra: map[string]any{"gossip.restart_grace": "2s"}})
	self, err := tpa1.Service().Members(context.Background())
	if err != nil || len(self) != 1 {
		t.Fatalf("members of tpa1: %v %v", self, err)
	}
	sfo, stopSfo := agenttest.Start(t, caDir, "sfo", agenttest.Options{Join: []string{self[0].Addr}})
	testutil.SeedEnterprise(t, func(table, source string, r io.Reader) error {
		_, err := tpa1.Service().Import(context.Background(), service.ImportRequest{Table: table, Source: source}, r)
		return err
	})

	u, err := ui.New(ui.DefaultConfig(), ui.Deps{Data: tpa1.Service(), Cluster: "tpa1", Node: "tpa1-1",
		DNS: ui.DNSFrom(tpa1.Service()), Services: ui.ServicesFrom(tpa1.Service())})
	if err != nil {
		t.Fatal(err)
	}
	page := func() string {
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, httptest.NewRequest("GET", ui.Prefix, nil))
		if rec.Code != 200 {
			t.Fatalf("status page: %d\n%s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	waitFor := func(what string, wants ...string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var body string
		for time.Now().Before(deadline) {
			body = page()
			ok := true
			for _, w := range wants {
				ok = ok && strings.Contains(body, w)
			}
			if ok {
				return body
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: the status page never showed %q:\n%s", what, wants, body)
		return ""
	}
	alive := func(n int) string { return fmt.Sprintf(`<td class="cell s-ok">%d/%d alive</td>`, n, n) }
	body := waitFor("both running", `changes applied here">this cluster · mesh</td>`,
		`in sync</td>`, `>in SRV answers</td>`)
	if strings.Count(body, alive(1)) != 2 || strings.Count(body, ">no agent seen<") != 3 {
		t.Fatalf("membership of tpa1 and sfo:\n%s", body)
	}
	rec := httptest.NewRecorder()
	u.ServeHTTP(rec, httptest.NewRequest("GET", ui.Prefix+"services", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "VOICE OK") {
		t.Fatalf("services page: %d\n%s", rec.Code, rec.Body)
	}
	// The link is real: the sample data imported at tpa1 reaches sfo.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if p, err := sfo.Service().List(context.Background(), "clusters", service.Query{}); err == nil && p.Total == 5 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("sfo has %v clusters (%v)", p, err)
		}
	}

	stopSfo()
	// A clean stop is a restart: sfo stays in the answers for the grace,
	// then its column goes red.
	waitFor("sfo restarting", `title="sfo-1 restarting">0/1 alive</td>`)
	body = waitFor("sfo stopped", `<td class="cell s-fail" title="sfo-1 failed">0/1 alive</td>`, `>dropped from SRV</td>`)
	if !strings.Contains(body, `<th class="s-fail">sfo<br><small>sfo</small></th>`) {
		t.Fatalf("the sfo column is not red:\n%s", body)
	}
}
