package ui

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/pbx"
)

// ConflictGrid shows the versions of a record in conflict side by side:
// one column per version, one row per field.
type ConflictGrid struct {
	Ref, Table, Key string
	Sides           []Side
	Rows            []GridRow
	Differ          []string
}

// Side is one version of the record.
type Side struct {
	Version, Cluster, Author string
	Time                     time.Time
	Deleted, Winner          bool
	// Take is the cluster to name when keeping this side; "" when another
	// version from the same cluster comes first (Resolve keeps the first).
	Take string
}

// GridRow is one field across the versions.
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
func conflictGrid(cv agent.ConflictView, show reveal) ConflictGrid {
	g := ConflictGrid{Ref: cv.Ref, Table: cv.Table, Key: cv.Key, Differ: cv.Differ}
	taken := map[string]bool{}
	for _, v := range cv.Versions {
		s := Side{Version: v.Version, Cluster: v.Cluster, Author: v.Author, Time: v.Time, Deleted: v.Deleted, Winner: v.Version == cv.Winner}
		if !taken[v.Cluster] {
			s.Take, taken[v.Cluster] = v.Cluster, true
		}
		g.Sides = append(g.Sides, s)
	}
	t, _ := pbx.LookupTable(cv.Table)
	var fields []string
	if t != nil {
		fields = t.Columns()
	}
	for _, v := range cv.Versions { // fields the table does not know, last
		for k := range v.Fields {
			if !slices.Contains(fields, k) {
				fields = append(fields, k)
			}
		}
	}
	for _, f := range fields {
		row := GridRow{Field: f}
		filled := false
		for _, v := range cv.Versions {
			val := v.Fields[f]
			if v.Deleted {
				val = ""
			}
			filled = filled || val != ""
			row.Values = append(row.Values, val)
		}
		if !filled {
			continue
		}
		for _, val := range row.Values[1:] {
			row.Differ = row.Differ || val != row.Values[0]
		}
		row.Masked = make([]bool, len(row.Values))
		if spec, ok := specOf(t, f); ok && spec.Secret {
			row.Secret = true
			for i, val := range row.Values {
				if val != "" && (f != show.Field || cv.Versions[i].Version != show.Version) {
					row.Values[i], row.Masked[i] = pbx.Redacted, true
				}
			}
		}
		g.Rows = append(g.Rows, row)
	}
	return g
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

func conflictList(cs []agent.ConflictView) []conflictSummary {
	out := make([]conflictSummary, 0, len(cs))
	for _, c := range cs {
		s := conflictSummary{Ref: c.Ref, Link: refPath(c.Ref), Differ: strings.Join(c.Differ, ", ")}
		for _, v := range c.Versions {
			s.Clusters = append(s.Clusters, v.Cluster)
			if v.Version == c.Winner {
				s.Winner = v.Cluster
			}
		}
		out = append(out, s)
	}
	return out
}
