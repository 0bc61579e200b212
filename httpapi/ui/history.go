package ui

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

// historyLink is the address of a record's history page.
func historyLink(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return Prefix + "history/" + strings.Join(parts, "/")
}

// HistoryRow is one change of a record.
type HistoryRow struct {
	Change, Time, Cluster, Author, What string
	Deleted                             bool
}

type historyData struct {
	Ref  string
	Rows []HistoryRow
}

// historyPage shows every retained change of one record: when, where,
// who and what it changed (secrets are named, never shown).
func (u *UI) historyPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ref := r.PathValue("ref")
	if ref == "" {
		ref = strings.TrimSpace(r.URL.Query().Get("ref"))
	}
	d := historyData{Ref: ref}
	if ref == "" {
		u.render(w, r, http.StatusOK, "history", v, "History", "history", d)
		return
	}
	name, key, ok := strings.Cut(ref, "/")
	t, err := pbx.LookupTable(name)
	if !ok || err != nil {
		u.fail(w, r, v, http.StatusBadRequest, "No such record",
			ref+" names no record: give TABLE/KEY, e.g. extensions/tpa1/6109 (tables: "+strings.Join(pbx.TableNames(), ", ")+").")
		return
	}
	items, err := u.deps.Data.History(r.Context(), t.Name, key)
	if err != nil {
		u.failErr(w, r, v, "No history", err)
		return
	}
	var prev pbx.Fields
	for _, it := range items {
		d.Rows = append(d.Rows, HistoryRow{Change: it.Change, Time: it.Time.UTC().Format(time.DateTime), Cluster: it.Cluster,
			Author: it.Author, What: service.DescribeChange(t, prev, it), Deleted: it.Deleted})
		prev = it.Fields
	}
	u.render(w, r, http.StatusOK, "history", v, "History of "+ref, "history", d)
}
