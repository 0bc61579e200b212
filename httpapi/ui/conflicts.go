package ui

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

// ConflictGrid shows a record in conflict: for each field (or group of
// fields that change together) in conflict, its sides side by side, one
// column per side, one row per field; then the record as it shows.
type ConflictGrid struct {
	Ref, Table, Key string
	Differ          []string
	Groups          []ConflictGroup
	Shown           []GridRow // the record as it shows meanwhile
	Clusters        []string  // every cluster with a side, for "keep all from"
}

// ConflictGroup is one unit in conflict.
type ConflictGroup struct {
	Title  string // "name", "mailbox + vmsecret", "the whole record"
	Field  string // the field to name when resolving only this group; "" for the record
	Reason string // a record-level conflict's
	Sides  []Side
	Rows   []GridRow
}

// Side is one side of a conflict.
type Side struct {
	Version, Cluster, Author string
	Time                     time.Time
	Deleted, Winner          bool
	// Take is the cluster to name when keeping this side; "" when another
	// side from the same cluster comes first (the first is kept).
	Take string
}

// GridRow is one field across the sides (or of the record as it shows).
type GridRow struct {
	Field  string
	Values []string
	Masked []bool // per value: a secret shown as pbx.Redacted
	Differ bool
	Secret bool
}

// reveal names the one secret value an admin asked to see: a field of one
// version.
type reveal struct{ Field, Version string }

// conflictGrid shapes a conflict. Every secret is replaced by
// pbx.Redacted, for every role: an admin reveals one value at a time
// (show), and each reveal is in the audit log.
func conflictGrid(cv service.ConflictView, show reveal) ConflictGrid {
	g := ConflictGrid{Ref: cv.Ref, Table: cv.Table, Key: cv.Key, Differ: cv.Differ}
	t, _ := pbx.LookupTable(cv.Table)
	// hide masks a secret unless it is the one revealed (version "" is
	// the record as it shows, never revealed).
	hide := func(field, version, val string) (shown string, secret, masked bool) {
		if spec, ok := specOf(t, field); ok && spec.Secret {
			if val != "" && (version == "" || field != show.Field || version != show.Version) {
				return pbx.Redacted, true, true
			}
			return val, true, false
		}
		return val, false, false
	}
	for _, c := range cv.Conflicts {
		grp := ConflictGroup{Title: strings.Join(c.Fields, " + "), Reason: c.Reason}
		if len(c.Fields) > 0 {
			grp.Field = c.Fields[0]
		} else {
			grp.Title = "the whole record"
		}
		taken := map[string]bool{}
		for i, sd := range c.Sides {
			side := Side{Version: sd.Version, Cluster: sd.Cluster, Author: sd.Author, Time: sd.Time, Deleted: sd.Deleted, Winner: i == 0}
			if !taken[sd.Cluster] {
				side.Take, taken[sd.Cluster] = sd.Cluster, true
			}
			if !slices.Contains(g.Clusters, sd.Cluster) {
				g.Clusters = append(g.Clusters, sd.Cluster)
			}
			grp.Sides = append(grp.Sides, side)
		}
		fields := c.Fields
		if fields == nil {
			fields = columnsOf(t, c.Sides)
		}
		for _, f := range fields {
			row := GridRow{Field: f}
			filled := false
			for _, sd := range c.Sides {
				val := sd.Fields[f]
				filled = filled || val != ""
				val, secret, masked := hide(f, sd.Version, val)
				row.Secret = row.Secret || secret
				row.Values, row.Masked = append(row.Values, val), append(row.Masked, masked)
			}
			if !filled && c.Fields == nil {
				continue
			}
			for _, sd := range c.Sides[1:] {
				row.Differ = row.Differ || sd.Fields[f] != c.Sides[0].Fields[f]
			}
			grp.Rows = append(grp.Rows, row)
		}
		g.Groups = append(g.Groups, grp)
	}
	for _, f := range columnsOf(t, []service.SideView{{Fields: cv.Fields}}) {
		val, secret, masked := hide(f, "", cv.Fields[f])
		g.Shown = append(g.Shown, GridRow{Field: f, Values: []string{val}, Masked: []bool{masked}, Secret: secret, Differ: slices.Contains(cv.Differ, f)})
	}
	return g
}

// columnsOf lists the fields the sides hold: the table's columns in
// order, then fields it does not know.
func columnsOf(t *pbx.Table, sides []service.SideView) []string {
	var cols []string
	if t != nil {
		cols = t.Columns()
	}
	var out []string
	has := func(f string) bool {
		return slices.ContainsFunc(sides, func(s service.SideView) bool { return s.Fields[f] != "" })
	}
	for _, f := range cols {
		if has(f) {
			out = append(out, f)
		}
	}
	for _, s := range sides {
		for f := range s.Fields {
			if !slices.Contains(cols, f) && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

func specOf(t *pbx.Table, field string) (pbx.FieldSpec, bool) {
	if t == nil {
		return pbx.FieldSpec{}, false
	}
	return t.Spec(field)
}

// refPath is the page address of a conflict: each part of TABLE/KEY is
// escaped on its own, so keys with reserved characters survive.
func refPath(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return Prefix + "conflicts/" + strings.Join(parts, "/")
}

// conflictSummary is one line of the conflicts list.
type conflictSummary struct {
	Ref, Link string
	Clusters  []string
	Differ    string
	Winner    string
}

func conflictList(cs []service.ConflictView) []conflictSummary {
	out := make([]conflictSummary, 0, len(cs))
	for _, c := range cs {
		s := conflictSummary{Ref: c.Ref, Link: refPath(c.Ref), Differ: strings.Join(c.Differ, ", ")}
		for i, fc := range c.Conflicts {
			for j, sd := range fc.Sides {
				if !slices.Contains(s.Clusters, sd.Cluster) {
					s.Clusters = append(s.Clusters, sd.Cluster)
				}
				if i == 0 && j == 0 {
					s.Winner = sd.Cluster
				}
			}
		}
		out = append(out, s)
	}
	return out
}
