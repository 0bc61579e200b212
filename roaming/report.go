package roaming

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// Row is one line of the roaming report: one number on one cluster (the
// guide's §3.0.6 table).
type Row struct {
	Extension string `json:"extension"`
	Cluster   string `json:"cluster"`
	Site      string `json:"site,omitempty"`
	Group     string `json:"group,omitempty"`
	Name      string `json:"name,omitempty"`
	Roaming   bool   `json:"roaming"`
	Mailbox   string `json:"mailbox,omitempty"`
	// Voicemail says where the number's voicemail lives, seen from this
	// row: "home" (here, and only here), "duplicate" (here and on other
	// clusters), "elsewhere" (on another cluster: HomeCluster), "local"
	// (here, for a per-site number that does not roam) or "none".
	Voicemail   string   `json:"voicemail"`
	HomeCluster string   `json:"home_cluster,omitempty"`
	Findings    []string `json:"findings,omitempty"` // rules whose findings name this row
}

// Voicemail states of a row.
const (
	VMHome      = "home"
	VMDuplicate = "duplicate"
	VMElsewhere = "elsewhere"
	VMLocal     = "local"
	VMNone      = "none"
)

// Report is the roaming report: the rows and the roaming findings.
type Report struct {
	Version  Version   `json:"version"`
	Numbers  int       `json:"numbers"` // distinct numbers shown
	Rows     []Row     `json:"rows"`
	Findings []Finding `json:"findings"`
}

// Filter selects and orders report rows. A row is shown when it matches
// every filter given; a finding is shown when it names a shown row.
type Filter struct {
	Group   string `json:"group,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	Site    string `json:"site,omitempty"`
	Sort    string `json:"sort,omitempty"` // a column of ReportColumns
	Desc    bool   `json:"desc,omitempty"`
}

// ReportColumns are the columns a report can be sorted by.
var ReportColumns = []string{"extension", "cluster", "site", "group", "name", "roaming", "mailbox", "voicemail", "home_cluster", "findings"}

// NewReport builds the roaming report.
func NewReport(e *Enterprise, f Filter) (*Report, error) {
	less, err := rowOrder(f.Sort, f.Desc)
	if err != nil {
		return nil, err
	}
	r := &Report{Version: e.Version, Findings: []Finding{}}
	// Count the rows first: growing a slice of 50,000 rows copies it
	// again and again.
	rows := 0
	e.numberRuns(func(idx []int32) {
		first := &e.Extensions[idx[0]]
		if len(idx) == 1 && !first.Roaming {
			return
		}
		for _, j := range idx {
			if matches(&e.Extensions[j], f) {
				rows++
			}
		}
	})
	r.Rows = make([]Row, 0, rows)
	var n number
	e.numberRuns(func(idx []int32) {
		e.analyze(idx, &n)
		if !n.reported() {
			return
		}
		shown := false
		for _, x := range n.exts {
			if !matches(x, f) {
				continue
			}
			r.Rows = append(r.Rows, n.row(x))
			shown = true
		}
		if shown {
			r.Numbers++
			r.Findings = append(r.Findings, n.findings...)
		}
	})
	e.attachAcks(r.Findings)
	sortFindings(r.Findings)
	slices.SortStableFunc(r.Rows, less)
	return r, nil
}

func matches(x *Extension, f Filter) bool {
	return (f.Group == "" || strings.EqualFold(x.Group, f.Group)) &&
		(f.Cluster == "" || x.Cluster == f.Cluster) &&
		(f.Site == "" || x.Site == f.Site)
}

func (n *number) row(x *Extension) Row {
	r := Row{Extension: x.Number, Cluster: x.Cluster, Site: x.Site, Group: x.Group, Name: x.Name,
		Roaming: x.Roaming, Mailbox: x.Mailbox}
	switch {
	case !n.anyRoaming && x.Mailbox != "":
		r.Voicemail = VMLocal
	case !n.anyRoaming, len(n.boxes) == 0:
		r.Voicemail = VMNone
	case x.Mailbox != "" && len(n.boxes) == 1:
		r.Voicemail = VMHome
	case x.Mailbox != "":
		r.Voicemail = VMDuplicate
	default:
		r.Voicemail = VMElsewhere
		if len(n.boxes) == 1 {
			r.HomeCluster = n.boxes[0].Cluster
		}
	}
	if r.Voicemail == VMHome {
		r.HomeCluster = x.Cluster
	}
	if len(n.findings) == 0 {
		return r
	}
	key := "extensions/" + x.Key()
	for _, f := range n.findings {
		if slices.Contains(f.Records, key) {
			r.Findings = append(r.Findings, f.Rule)
		}
	}
	return r
}

// rowOrder returns the comparison for a sort column: the column, then the
// number (naturally) and the cluster.
func rowOrder(col string, desc bool) (func(a, b Row) int, error) {
	base := func(a, b Row) int {
		if c := naturalCompare(a.Extension, b.Extension); c != 0 {
			return c
		}
		return strings.Compare(a.Cluster, b.Cluster)
	}
	var key func(Row) string
	switch strings.ToLower(col) {
	case "", "extension":
		key = func(r Row) string { return "" }
		if desc {
			return func(a, b Row) int { return -base(a, b) }, nil
		}
		return base, nil
	case "cluster":
		key = func(r Row) string { return r.Cluster }
	case "site":
		key = func(r Row) string { return r.Site }
	case "group":
		key = func(r Row) string { return strings.ToLower(r.Group) }
	case "name":
		key = func(r Row) string { return strings.ToLower(r.Name) }
	case "roaming":
		key = func(r Row) string { return strconv.FormatBool(r.Roaming) }
	case "mailbox":
		key = func(r Row) string { return r.Mailbox }
	case "voicemail":
		key = func(r Row) string { return r.Voicemail }
	case "home_cluster":
		key = func(r Row) string { return r.HomeCluster }
	case "findings":
		key = func(r Row) string { return fmt.Sprintf("%03d", len(r.Findings)) }
	default:
		msg := "use one of " + strings.Join(ReportColumns, ", ")
		if near := pbx.Nearest(col, ReportColumns); near != "" {
			msg = fmt.Sprintf("did you mean %q?", near)
		}
		return nil, fmt.Errorf("%w: cannot sort the roaming report by %q: %s", ErrBadRequest, col, msg)
	}
	return func(a, b Row) int {
		c := naturalCompare(key(a), key(b))
		if desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return base(a, b)
	}, nil
}

// attachAcks marks the acknowledged findings.
func (e *Enterprise) attachAcks(fs []Finding) {
	for i := range fs {
		if a, ok := e.Acks[fs[i].ID]; ok {
			fs[i].Ack = &a
		}
	}
}
