package ui

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

// GroupQuery is the selection of the group status page (guide §4.0.1,
// §4.0.2): site, cluster, group, a search, the sort column and the page.
type GroupQuery struct {
	Group, Cluster, Site, Search string
	Sort                         string // a column of groupSorts
	Desc                         bool
	Page                         int // from 1
}

// groupSorts maps the page's sortable columns to extension fields.
var groupSorts = []struct{ Column, Field string }{
	{"group", "astgroup"}, {"cluster", "cluster"}, {"extension", "regexten"}, {"name", "name"},
}

func sortField(col string) (string, bool) {
	for _, s := range groupSorts {
		if s.Column == col {
			return s.Field, true
		}
	}
	return "", false
}

// parseGroupQuery reads the page's query string.
func parseGroupQuery(v url.Values) (GroupQuery, error) {
	q := GroupQuery{Group: v.Get("group"), Cluster: v.Get("cluster"), Site: v.Get("site"),
		Search: strings.TrimSpace(v.Get("search")), Sort: v.Get("sort"), Desc: v.Get("desc") == "1", Page: 1}
	if q.Sort == "" {
		q.Sort = "extension"
	}
	if _, ok := sortField(q.Sort); !ok {
		cols := make([]string, len(groupSorts))
		for i, s := range groupSorts {
			cols[i] = s.Column
		}
		return q, fmt.Errorf("cannot sort by %q: use %s", q.Sort, strings.Join(cols, ", "))
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return q, fmt.Errorf("page %q: want a page number from 1", p)
		}
		q.Page = n
	}
	return q, nil
}

// agentQuery is the Service query for one page of size rows.
func (q GroupQuery) agentQuery(size int) service.Query {
	f, _ := sortField(q.Sort)
	return service.Query{Group: q.Group, Cluster: q.Cluster, Site: q.Site, Search: q.Search,
		Sort: f, Desc: q.Desc, Offset: (q.Page - 1) * size, Limit: size}
}

// URL returns the page's address with some values changed ("" removes
// one).
func (q GroupQuery) URL(changes ...string) string {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("group", q.Group)
	set("cluster", q.Cluster)
	set("site", q.Site)
	set("search", q.Search)
	if q.Sort != "extension" {
		set("sort", q.Sort)
	}
	if q.Desc {
		v.Set("desc", "1")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	for i := 0; i+1 < len(changes); i += 2 {
		v.Del(changes[i])
		set(changes[i], changes[i+1])
	}
	if len(v) == 0 {
		return Prefix + "groups"
	}
	return Prefix + "groups?" + v.Encode()
}

// SortURL is the address that sorts by col: ascending, or descending when
// the page is already sorted ascending by it.
func (q GroupQuery) SortURL(col string) string {
	desc := ""
	if q.Sort == col && !q.Desc {
		desc = "1"
	}
	return q.URL("sort", col, "desc", desc, "page", "")
}

// GroupRow is one line of the group status table.
type GroupRow struct {
	Group, Cluster, Extension, Name string
	Agent                           Cell
	VM, Calls                       string
}

// groupRows shapes extension records and their status (nil when the
// status collector is not available).
func groupRows(recs []pbx.Fields, status map[string]pbx.Fields) []GroupRow {
	out := make([]GroupRow, 0, len(recs))
	for _, f := range recs {
		r := GroupRow{Group: f["astgroup"], Cluster: f["cluster"], Extension: f["regexten"], Name: f["name"]}
		if status == nil {
			r.Agent = noData("no status collector (AMI) on this agent")
		} else if st, ok := status[f["cluster"]+"/"+f["regexten"]]; ok {
			r.Agent, r.VM, r.Calls = agentCell(st), vmText(st), callsText(st)
		} else {
			r.Agent = Cell{State: None, Text: "—", Detail: "no status observed"}
		}
		out = append(out, r)
	}
	return out
}

// Asterisk extension states (ExtensionState bits).
const (
	extInUse       = 1
	extBusy        = 2
	extUnavailable = 4
	extRinging     = 8
	extOnHold      = 16
)

// agentCell colours an extension by its device state and names it by the
// agent status when there is one: available green, on a call orange,
// unreachable red.
func agentCell(st pbx.Fields) Cell {
	text := strings.TrimSpace(st["queue"] + " " + st["agentstatus"])
	c := Cell{State: None}
	if n, err := strconv.Atoi(st["extstatus"]); err == nil && n >= 0 {
		var words []string
		switch {
		case n&extUnavailable != 0:
			c.State, words = Fail, []string{"unavailable"}
		case n == 0:
			c.State, words = OK, []string{"idle"}
		default:
			c.State = Warn
			for _, b := range []struct {
				bit  int
				word string
			}{{extInUse, "in use"}, {extBusy, "busy"}, {extRinging, "ringing"}, {extOnHold, "on hold"}} {
				if n&b.bit != 0 {
					words = append(words, b.word)
				}
			}
		}
		c.Detail = "device " + strings.Join(words, ", ")
		if text == "" {
			text = strings.Join(words, ", ")
		}
	}
	if st["ipaddr"] != "" {
		c.Detail = strings.TrimSpace(c.Detail + " · registered from " + st["ipaddr"])
	}
	if text == "" {
		text = "—"
	}
	c.Text = text
	return c
}

func vmText(st pbx.Fields) string {
	if st["vmunread"] == "" && st["vmold"] == "" {
		return ""
	}
	return orZero(st["vmunread"]) + " / " + orZero(st["vmold"])
}

func callsText(st pbx.Fields) string {
	if !slices.ContainsFunc([]string{"callsdin", "callsqin", "callsout"}, func(k string) bool { return st[k] != "" }) {
		return ""
	}
	return orZero(st["callsdin"]) + " / " + orZero(st["callsqin"]) + " / " + orZero(st["callsout"])
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
