package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
)

// The page handlers: read, shape with the plain functions of the other
// files, render.

// failErr renders an error from the Service with its code.
func (u *UI) failErr(w http.ResponseWriter, r *http.Request, v *viewer, heading string, err error) {
	status := http.StatusInternalServerError
	var ae *service.Error
	if errors.As(err, &ae) && ae.Code >= 400 && ae.Code < 600 {
		status = ae.Code
	}
	if status == http.StatusInternalServerError {
		u.log.Error("ui: page failed", "path", r.URL.Path, "err", err)
	}
	u.fail(w, r, v, status, heading, err.Error())
}

func (u *UI) rows(ctx context.Context, table string) ([]pbx.Fields, error) {
	p, err := u.deps.Data.List(ctx, table, service.Query{})
	if err != nil {
		return nil, err
	}
	return p.Rows, nil
}

// choices are the values the filter forms offer.
type choices struct {
	Groups, Clusters, Sites []string
}

func (u *UI) choices(ctx context.Context) (choices, error) {
	var c choices
	for _, t := range []struct {
		table string
		into  *[]string
	}{{"groups", &c.Groups}, {"clusters", &c.Clusters}, {"sites", &c.Sites}} {
		rows, err := u.rows(ctx, t.table)
		if err != nil {
			return c, err
		}
		for _, f := range rows {
			*t.into = append(*t.into, f["name"])
		}
	}
	return c, nil
}

type statusData struct {
	Board     Board
	Conflicts int
	ConflictsErr,
	RoamingErr string
	Alerting map[string]int
}

func (u *UI) statusPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := r.Context()
	clusters, err := u.rows(ctx, "clusters")
	if err != nil {
		u.failErr(w, r, v, "Cannot read the clusters", err)
		return
	}
	in := boardInput{Here: u.deps.Cluster, Clusters: clusters, ServicesErr: errNotWired, DNSErr: errNotWired}
	in.Members, in.MembersErr = u.deps.Data.Members(ctx)
	in.Members = slices.DeleteFunc(in.Members, func(m replicator.Member) bool { // gossip alone does not make a member
		return m.Certificate != "" && m.Certificate != replicator.CertVerified && m.Certificate != replicator.CertLapsed
	})
	in.Repl, in.ReplErr = u.deps.Data.ReplStatus(ctx)
	if u.deps.Services != nil {
		in.Services, in.ServicesErr = u.deps.Services.ServiceAvailability(ctx)
	}
	if u.deps.DNS != nil {
		in.DNS, in.DNSErr = u.deps.DNS.DNSStatus(ctx)
	}
	d := statusData{Board: buildBoard(in)}
	if cs, err := u.deps.Data.Conflicts(ctx); err != nil {
		d.ConflictsErr = err.Error()
	} else {
		d.Conflicts = len(cs)
	}
	d.RoamingErr = errNotWired.Error()
	if u.deps.Roaming != nil {
		if rep, err := u.deps.Roaming.RoamingReport(ctx, RoamingFilter{}); err != nil {
			d.RoamingErr = err.Error()
		} else {
			d.RoamingErr, d.Alerting = "", roamingView(rep).Alerting
		}
	}
	u.render(w, r, http.StatusOK, "status", v, "Enterprise status", "status", d)
}

type servicesData struct {
	Rows []ServiceRow
	Note string
}

func (u *UI) servicesPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := r.Context()
	clusters, err := u.rows(ctx, "clusters")
	if err != nil {
		u.failErr(w, r, v, "Cannot read the clusters", err)
		return
	}
	var hs []ServiceHealth
	herr := errNotWired
	if u.deps.Services != nil {
		hs, herr = u.deps.Services.ServiceAvailability(ctx)
	}
	d := servicesData{Rows: serviceRows(clusters, hs, herr)}
	if herr != nil {
		d.Note = "Live service health: " + herr.Error() + ". The servers shown are the configured ones."
	}
	u.render(w, r, http.StatusOK, "services", v, "Service availability", "services", d)
}

type roamingData struct {
	Filter    RoamingFilter
	Choices   choices
	View      RoamingView
	Available bool
	Err       string
}

func (u *UI) roamingPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := r.Context()
	q := r.URL.Query()
	d := roamingData{Filter: RoamingFilter{Group: q.Get("group"), Cluster: q.Get("cluster"), Site: q.Get("site")}}
	var err error
	if d.Choices, err = u.choices(ctx); err != nil {
		u.failErr(w, r, v, "Cannot read the enterprise", err)
		return
	}
	if u.deps.Roaming != nil {
		d.Available = true
		if rep, err := u.deps.Roaming.RoamingReport(ctx, d.Filter); err != nil {
			d.Err = err.Error()
		} else {
			d.View = roamingView(rep)
		}
	}
	u.render(w, r, http.StatusOK, "roaming", v, "Roaming", "roaming", d)
}

type groupsData struct {
	Query          GroupQuery
	Choices        choices
	Rows           []GroupRow
	Total          int
	Page, Pages    int
	First, Last    int
	Prev, Next     string
	Sorts          []string
	StatusNotWired bool
}

func (u *UI) groupsPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := r.Context()
	q, err := parseGroupQuery(r.URL.Query())
	if err != nil {
		u.fail(w, r, v, http.StatusBadRequest, "Bad selection", err.Error())
		return
	}
	d := groupsData{Query: q}
	if d.Choices, err = u.choices(ctx); err != nil {
		u.failErr(w, r, v, "Cannot read the enterprise", err)
		return
	}
	size := u.cfg.PageSize
	page, err := u.deps.Data.List(ctx, "extensions", q.agentQuery(size))
	if err != nil {
		u.failErr(w, r, v, "Cannot list the extensions", err)
		return
	}
	var status map[string]pbx.Fields
	if u.deps.Agents != nil {
		keys := make([]string, len(page.Rows))
		for i, f := range page.Rows {
			keys[i] = f["cluster"] + "/" + f["regexten"]
		}
		if status, err = u.deps.Agents.ExtensionStatus(ctx, keys); err != nil {
			u.log.Warn("ui: extension status", "err", err)
			status = nil
		}
		if status == nil {
			status = map[string]pbx.Fields{}
		}
	} else {
		d.StatusNotWired = true
	}
	d.Rows = groupRows(page.Rows, status)
	d.Total, d.Page = page.Total, q.Page
	d.Pages = max(1, (page.Total+size-1)/size)
	if len(page.Rows) > 0 {
		d.First = (q.Page-1)*size + 1
		d.Last = d.First + len(page.Rows) - 1
	}
	if q.Page > 1 {
		d.Prev = q.URL("page", itoa(q.Page-1))
	}
	if q.Page < d.Pages {
		d.Next = q.URL("page", itoa(q.Page+1))
	}
	u.render(w, r, http.StatusOK, "groups", v, "Group status", "groups", d)
}

type conflictsData struct {
	Rows   []conflictSummary
	Flash  string
	Admin  bool
	Failed string
}

func (u *UI) conflictsPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	cs, err := u.deps.Data.Conflicts(r.Context())
	if err != nil {
		u.failErr(w, r, v, "Cannot list the conflicts", err)
		return
	}
	d := conflictsData{Rows: conflictList(cs), Admin: v.IsAdmin()}
	if q := r.URL.Query(); q.Get("resolved") != "" {
		d.Flash = "Resolved " + q.Get("resolved") + ": kept the version from " + q.Get("kept") + "."
		if f := q.Get("field"); f != "" {
			d.Flash = "Resolved " + f + " of " + q.Get("resolved") + ": kept the value from " + q.Get("kept") + "."
		}
	}
	u.render(w, r, http.StatusOK, "conflicts", v, "Conflicts", "conflicts", d)
}

type conflictData struct {
	Grid     ConflictGrid
	Admin    bool
	Revealed string // "field of version", when an admin revealed one
}

func (u *UI) conflictPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	cv, err := u.deps.Data.Conflict(r.Context(), r.PathValue("ref"))
	if err != nil {
		u.failErr(w, r, v, "No such conflict", err)
		return
	}
	d := conflictData{Grid: conflictGrid(*cv, reveal{}), Admin: v.IsAdmin()}
	u.render(w, r, http.StatusOK, "conflict", v, "Conflict "+cv.Ref, "conflicts", d)
}

// revealSecret shows an admin one secret value of a conflict (admin only,
// checked by page), once it is in the audit log; a reveal that cannot be
// recorded is refused.
func (u *UI) revealSecret(w http.ResponseWriter, r *http.Request, v *viewer) {
	ref, field, version := r.PostForm.Get("ref"), r.PostForm.Get("field"), r.PostForm.Get("version")
	cv, err := u.deps.Data.Conflict(r.Context(), ref)
	if err != nil {
		u.failErr(w, r, v, "No such conflict", err)
		return
	}
	t, _ := pbx.LookupTable(cv.Table)
	spec, ok := specOf(t, field)
	known := false
	for _, c := range cv.Conflicts {
		for _, sd := range c.Sides {
			known = known || sd.Version == version && sd.Fields[field] != ""
		}
	}
	if !ok || !spec.Secret || !known {
		u.fail(w, r, v, http.StatusBadRequest, "Nothing to reveal",
			"Choose a secret of this conflict with its reveal button: "+field+" of version "+version+" is none.")
		return
	}
	err = u.deps.Audit.Record(service.AuditEvent{Who: v.Who, Role: v.Role.String(), Client: r.RemoteAddr,
		Action: "reveal secret", Target: cv.Ref, Detail: field + " of version " + version})
	if err != nil {
		u.log.Error("ui: secret not revealed: the audit log refused the entry", "ref", cv.Ref, "field", field, "who", v.Who, "err", err)
		u.fail(w, r, v, http.StatusServiceUnavailable, "Not revealed",
			"Revealing a secret is recorded in the audit log first, and the audit log could not record it: see the agent's log.")
		return
	}
	d := conflictData{Grid: conflictGrid(*cv, reveal{field, version}), Admin: true, Revealed: field + " of version " + version}
	u.render(w, r, http.StatusOK, "conflict", v, "Conflict "+cv.Ref, "conflicts", d)
}

// resolve keeps one side of a conflict (admin only, checked by page).
func (u *UI) resolve(w http.ResponseWriter, r *http.Request, v *viewer) {
	ref, take, field := r.PathValue("ref"), r.PostForm.Get("take"), r.PostForm.Get("field")
	if take == "" {
		u.fail(w, r, v, http.StatusBadRequest, "Nothing chosen", "Choose the side to keep with its button.")
		return
	}
	if _, err := u.deps.Data.Resolve(r.Context(), ref, service.ResolveRequest{Take: take, Field: field}); err != nil {
		u.failErr(w, r, v, "Not resolved", err)
		return
	}
	u.log.Info("ui: conflict resolved", "ref", ref, "kept", take, "who", v.Who)
	http.Redirect(w, r, Prefix+"conflicts?"+url.Values{"resolved": {ref}, "kept": {take}, "field": {field}}.Encode(), http.StatusSeeOther)
}
