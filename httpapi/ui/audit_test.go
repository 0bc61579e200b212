package ui

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/service"
)

// TestAuditPageCountsAndAcknowledges: the audit page lists the findings
// `pbxtopo audit` gives (roaming and security), the status tile counts the
// same, and an admin acknowledges one with a reason, which takes it out of
// the counts on every page; the read role cannot.
func TestAuditPageCountsAndAcknowledges(t *testing.T) {
	svc := sampleWithConflict(t)
	srv, _ := newServer(t, svc, testAuth(slog.New(slog.DiscardHandler)), false)
	res, err := svc.Audit(bg, service.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	crit := res.Alerting["critical"]
	if crit == 0 {
		t.Fatal("the sample enterprise has no critical finding: the test would prove nothing")
	}
	const id = "SEC-TRUNK-ORPHAN:tpa1:BT"

	reader := newBrowser(t, srv)
	reader.login(readToken)
	_, body := reader.get(Prefix + "audit")
	mustContain(t, "audit page", body, `data-finding="`+id+`" data-severity="critical"`, "SEC-WEAK-SECRET:tpa2:5102", "ROAM-DUP-VM:5200",
		`<a href="/ui/history/trunks/tpa1/BT">trunks/tpa1/BT</a>`)
	mustNotContain(t, "audit page for the read role", body, `action="/ui/audit/ack"`)
	if n := strings.Count(body, "<tr class=\"row "); n != len(res.Findings) {
		t.Errorf("the page lists %d findings, the audit %d", n, len(res.Findings))
	}
	_, status := reader.get(Prefix)
	mustContain(t, "status tile", status, `<span class="big">`+itoa(crit)+`</span> critical`)
	if resp, _ := reader.post(Prefix+"audit/ack", url.Values{"csrf": {csrf(t, body)}, "finding": {id}, "why": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the read role acknowledged: %s", resp.Status)
	}

	admin := newBrowser(t, srv)
	admin.login(adminToken)
	_, body = admin.get(Prefix + "audit")
	resp, got := admin.post(Prefix+"audit/ack", url.Values{"csrf": {csrf(t, body)}, "finding": {id}, "why": {"  "}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, "An acknowledgement needs a reason") {
		t.Fatalf("ack without a reason: %s\n%s", resp.Status, got)
	}
	resp, got = admin.post(Prefix+"audit/ack", url.Values{"csrf": {csrf(t, body)}, "finding": {"NO-SUCH:x"}, "why": {"test"}})
	if resp.StatusCode < 400 || !strings.Contains(got, "NO-SUCH:x") {
		t.Fatalf("ack of an unknown finding: %s\n%s", resp.Status, got)
	}
	resp, got = admin.post(Prefix+"audit/ack", url.Values{"csrf": {csrf(t, body)}, "finding": {id}, "why": {"lab trunk, unplugged"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ack: %s\n%s", resp.Status, got)
	}
	_, body = admin.get(resp.Header.Get("Location"))
	mustContain(t, "after ack", body, "Acknowledged "+id, `data-finding="`+id+`" data-severity="critical" data-acked="true"`,
		"acknowledged by root", "lab trunk, unplugged", `<strong>`+itoa(crit-1)+`</strong> critical`)
	_, status = admin.get(Prefix)
	mustContain(t, "status tile after ack", status, `<span class="big">`+itoa(crit-1)+`</span> critical`)
	if res, _ := svc.Audit(bg, service.AuditQuery{}); res.Alerting["critical"] != crit-1 {
		t.Fatalf("pbxtopo audit still counts %d critical", res.Alerting["critical"])
	}

	resp, _ = admin.post(Prefix+"audit/unack", url.Values{"csrf": {csrf(t, body)}, "finding": {id}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unack: %s", resp.Status)
	}
	if res, _ := svc.Audit(bg, service.AuditQuery{}); res.Alerting["critical"] != crit {
		t.Fatalf("after unack %d critical, want %d", res.Alerting["critical"], crit)
	}
	_, body = admin.get(Prefix + "audit?severity=critical")
	mustNotContain(t, "critical only", body, "ROAM-DUP-VM:5200")
}

// TestHistoryPage: every retained change of a record, who made it where,
// and what it changed, with secrets named but not shown.
func TestHistoryPage(t *testing.T) {
	svc := sampleWithConflict(t)
	srv, _ := newServer(t, svc, testAuth(slog.New(slog.DiscardHandler)), false)
	b := newBrowser(t, srv)
	b.login(readToken)
	_, body := b.get(Prefix + "history/extensions/sfo/5020")
	mustContain(t, "history", body, `id="history"`, "<td>alice</td>", "<td>bob</td>", "<td>tpa1</td>", "<td>sfo</td>", "secret")
	mustNotContain(t, "history", body, "TpaSecret0123456", "SfoSecret0123456", "<script>alert")
	items, _ := svc.History(bg, "extensions", "sfo/5020")
	if n := strings.Count(body, `<tr class="row`); n != len(items) {
		t.Errorf("%d rows for %d changes", n, len(items))
	}
	_, body = b.get(Prefix + "history?ref=" + url.QueryEscape("extensions/sfo/5020"))
	mustContain(t, "history by form", body, "<td>alice</td>")
	resp, body := b.get(Prefix + "history?ref=nosuch/x")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "nosuch/x names no record") {
		t.Fatalf("history of no table: %s\n%s", resp.Status, body)
	}
	_, body = b.get(Prefix + "history")
	mustContain(t, "history without a record", body, "Give a record as TABLE/KEY")
}
