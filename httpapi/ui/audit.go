package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
)

// AuditSource runs the audit (roaming and security findings) and keeps
// its acknowledgements: the agent's Service, or an HTTP Client.
type AuditSource interface {
	Audit(ctx context.Context, q service.AuditQuery) (*roaming.AuditResult, error)
	Ack(ctx context.Context, req service.AckRequest) (*service.WriteReply, error)
	Unack(ctx context.Context, finding string) (*service.WriteReply, error)
}

var (
	_ AuditSource = (*service.Service)(nil)
)

// FindingRow is one finding as the audit page shows it.
type FindingRow struct {
	ID, Rule, Severity   string
	Summary, Why, Fix    string
	Records              []RecordLink
	Acked                bool
	AckBy, AckWhy, AckAt string
	Class                string // the row's colour: the severity while it alerts
}

// RecordLink is a record a finding names, linked to its history.
type RecordLink struct{ Ref, Link string }

func findingRows(fs []roaming.Finding) []FindingRow {
	out := make([]FindingRow, 0, len(fs))
	for _, f := range fs {
		r := FindingRow{ID: f.ID, Rule: f.Rule, Severity: f.Severity.String(), Summary: f.Summary, Why: f.Why, Fix: f.Fix}
		for _, rec := range f.Records {
			r.Records = append(r.Records, RecordLink{rec, historyLink(rec)})
		}
		switch {
		case f.Ack != nil:
			r.Acked, r.AckBy, r.AckWhy, r.AckAt, r.Class = true, f.Ack.By, f.Ack.Why, f.Ack.At, None.Class()
		case f.Severity == roaming.Critical:
			r.Class = Fail.Class()
		case f.Severity == roaming.Warning:
			r.Class = Warn.Class()
		default: // info: worth knowing, not a sign that all is well
			r.Class = None.Class()
		}
		out = append(out, r)
	}
	return out
}

type auditData struct {
	Severity string
	Rows     []FindingRow
	Alerting map[string]int
	Acked    int
	Admin    bool
	Flash    string
	Err      string
}

func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	d := auditData{Severity: r.URL.Query().Get("severity"), Admin: v.IsAdmin()}
	if u.deps.Audits == nil {
		d.Err = errNotWired.Error()
		u.render(w, r, http.StatusOK, "audit", v, "Audit", "audit", d)
		return
	}
	res, err := u.deps.Audits.Audit(r.Context(), service.AuditQuery{Severity: d.Severity})
	if err != nil {
		u.failErr(w, r, v, "Cannot run the audit", err)
		return
	}
	d.Rows, d.Alerting, d.Acked = findingRows(res.Findings), res.Alerting, res.Acknowledged
	q := r.URL.Query()
	switch {
	case q.Get("acked") != "":
		d.Flash = "Acknowledged " + q.Get("acked") + ": it stays listed and no longer alerts, on every cluster."
	case q.Get("unacked") != "":
		d.Flash = q.Get("unacked") + " alerts again."
	}
	u.render(w, r, http.StatusOK, "audit", v, "Audit", "audit", d)
}

// ack acknowledges a finding with a reason (admin, checked by page).
func (u *UI) ack(w http.ResponseWriter, r *http.Request, v *viewer) {
	id, why := r.PostForm.Get("finding"), strings.TrimSpace(r.PostForm.Get("why"))
	if why == "" {
		u.fail(w, r, v, http.StatusBadRequest, "No reason given",
			"An acknowledgement needs a reason (why "+id+" is accepted): write it in the field beside the button.")
		return
	}
	if u.deps.Audits == nil {
		u.fail(w, r, v, http.StatusServiceUnavailable, "No audit", errNotWired.Error())
		return
	}
	if _, err := u.deps.Audits.Ack(r.Context(), service.AckRequest{Finding: id, By: v.Who, Why: why}); err != nil {
		u.failErr(w, r, v, "Not acknowledged", err)
		return
	}
	u.findings.clear()
	u.log.Info("ui: finding acknowledged", "finding", id, "who", v.Who, "why", why)
	http.Redirect(w, r, Prefix+"audit?"+url.Values{"acked": {id}}.Encode(), http.StatusSeeOther)
}

// unack removes an acknowledgement (admin, checked by page).
func (u *UI) unack(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PostForm.Get("finding")
	if u.deps.Audits == nil {
		u.fail(w, r, v, http.StatusServiceUnavailable, "No audit", errNotWired.Error())
		return
	}
	if _, err := u.deps.Audits.Unack(r.Context(), id); err != nil {
		u.failErr(w, r, v, "Not changed", err)
		return
	}
	u.findings.clear()
	u.log.Info("ui: acknowledgement removed", "finding", id, "who", v.Who)
	http.Redirect(w, r, Prefix+"audit?"+url.Values{"unacked": {id}}.Encode(), http.StatusSeeOther)
}
