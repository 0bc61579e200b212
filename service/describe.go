package service

import (
	"fmt"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// DescribeChange says in words what one change of a record's history did,
// given the fields the entry before it showed (nil for the first): the CLI
// and the web pages print it the same. Secret fields are named, never
// shown.
func DescribeChange(t *pbx.Table, prev pbx.Fields, it HistoryItem) string {
	switch {
	case it.Deleted:
		return "deleted"
	case it.Set != nil:
		return setFields(t, prev, it.Fields, it.Set)
	case prev != nil:
		return diffFields(t, prev, it.Fields)
	}
	return "created"
}

// setFields names the fields a change set, with their new values (and
// the values the previous entry showed; with concurrent changes that may
// be another side's).
func setFields(t *pbx.Table, prev, now pbx.Fields, set []string) string {
	var parts []string
	for _, c := range set {
		if s, _ := t.Spec(c); s.Secret {
			parts = append(parts, c+" set")
			continue
		}
		if prev != nil && prev[c] != now[c] {
			parts = append(parts, fmt.Sprintf("%s %q→%q", c, prev[c], now[c]))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%q", c, now[c]))
		}
	}
	return "set " + strings.Join(parts, ", ")
}

// diffFields names the fields that changed between two versions.
func diffFields(t *pbx.Table, a, b pbx.Fields) string {
	var parts []string
	for _, c := range t.Columns() {
		if a[c] == b[c] {
			continue
		}
		if s, _ := t.Spec(c); s.Secret {
			parts = append(parts, c+" changed")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %q→%q", c, a[c], b[c]))
	}
	if len(parts) == 0 {
		return "no field changed"
	}
	return strings.Join(parts, ", ")
}
