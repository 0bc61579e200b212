package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
)

// Board is the enterprise status at a glance (guide §2.0): one column per
// cluster, one row per component.
type Board struct {
	Columns []Column
	Rows    []BoardRow
}

// Column is one cluster; its state is the worst of its cells.
type Column struct {
	Cluster, Site string
	Here          bool // the cluster of the agent serving the page
	State         State
}

// BoardRow is one component across the clusters.
type BoardRow struct {
	Name  string
	Link  string // the page with the details, if any
	Cells []Cell
}

// boardInput is everything the board is made from; an error or a nil
// part renders as "no data".
type boardInput struct {
	Here        string // the cluster of the agent serving the page
	Clusters    []pbx.Fields
	Services    []ServiceHealth
	ServicesErr error
	Repl        *service.ReplStatus
	ReplErr     error
	DNS         []DNSCluster
	DNSErr      error
	Members     []replicator.Member
	MembersErr  error
}

// errNotWired stands for a part this agent does not run.
var errNotWired = fmt.Errorf("not available on this agent")

// Thresholds of the replication row.
const lagFail = 5 * time.Minute

func buildBoard(in boardInput) Board {
	var b Board
	seen := map[string]bool{}
	for _, c := range in.Clusters {
		b.Columns = append(b.Columns, Column{Cluster: c["name"], Site: c["site"]})
		seen[c["name"]] = true
	}
	// A cluster that runs agents but is not configured still gets a column.
	for _, m := range in.Members {
		if c := m.Tags[replicator.TagCluster]; c != "" && !seen[c] && in.MembersErr == nil {
			b.Columns = append(b.Columns, Column{Cluster: c, Site: m.Tags[replicator.TagSite]})
			seen[c] = true
		}
	}
	here := in.Here
	if here == "" && in.Repl != nil && in.ReplErr == nil {
		here = in.Repl.Cluster
	}
	rows := []BoardRow{
		{Name: "Service availability", Link: "services"},
		{Name: "Replication"},
		{Name: "DNS SRV"},
		{Name: "Membership"},
	}
	for i := range b.Columns {
		c := b.Columns[i].Cluster
		b.Columns[i].Here = c == here
		cells := []Cell{
			serviceCell(c, in.Services, in.ServicesErr),
			replicationCell(c, in.Repl, in.ReplErr),
			dnsCell(c, in.DNS, in.DNSErr),
			membershipCell(c, in.Members, in.MembersErr),
		}
		for r := range rows {
			rows[r].Cells = append(rows[r].Cells, cells[r])
			b.Columns[i].State = worst(b.Columns[i].State, cells[r].State)
		}
	}
	b.Rows = rows
	return b
}

func errDetail(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func serviceCell(cluster string, hs []ServiceHealth, err error) Cell {
	if err != nil {
		return noData(errDetail(err))
	}
	for _, h := range hs {
		if h.Cluster != cluster {
			continue
		}
		voice := healthCell(h.Voice, "VOICE OK", "VOICE FAIL OVER", "VOICE DOWN")
		web := healthCell(h.Web, "WEB OK", "WEB FAIL OVER", "WEB DOWN")
		c := Cell{State: worst(voice.State, web.State), Text: voice.Text, Detail: h.Detail}
		if voice.State == None {
			c.Text = "VOICE ?"
		}
		if web.State != None {
			c.Text += " · " + web.Text
		}
		return c
	}
	return noData("no health report for this cluster")
}

func replicationCell(cluster string, rs *service.ReplStatus, err error) Cell {
	if err != nil || rs == nil {
		return noData(errDetail(err))
	}
	if cluster == rs.Cluster {
		c := Cell{State: OK, Text: "this cluster · " + string(rs.Mode), Detail: fmt.Sprintf("%d changes applied here", rs.Changes)}
		if rs.SkewSeen > 0 {
			c.State, c.Text = Warn, fmt.Sprintf("clock skew · %d alarms", rs.SkewSeen)
		}
		return c
	}
	for _, l := range rs.Links {
		if l.Peer != cluster {
			continue
		}
		switch {
		case !l.Connected && l.LastError != "":
			return Cell{State: Fail, Text: "link down", Detail: l.LastError}
		case !l.Connected:
			return Cell{State: None, Text: "not contacted yet"}
		case l.Behind == 0:
			return Cell{State: OK, Text: "in sync", Detail: fmt.Sprintf("%d changes applied from %s", l.Applied, cluster)}
		}
		lag := time.Duration(l.SecondsBehind * float64(time.Second)).Round(time.Second)
		c := Cell{State: Warn, Text: fmt.Sprintf("%d behind · %s", l.Behind, lag)}
		if lag >= lagFail {
			c.State = Fail
		}
		return c
	}
	detail := fmt.Sprintf("in %s mode this agent does not pull from %s directly", rs.Mode, cluster)
	if rs.Mode == replicator.Mesh {
		detail = fmt.Sprintf("in mesh mode this agent pulls from every live cluster; %s is not live in the membership", cluster)
	}
	return Cell{State: None, Text: "no link", Detail: detail}
}

func dnsCell(cluster string, ds []DNSCluster, err error) Cell {
	if err != nil {
		return noData(errDetail(err))
	}
	for _, d := range ds {
		if d.Cluster == cluster {
			c := healthCell(d.State, "in SRV answers", "answered, unhealthy", "dropped from SRV")
			c.Detail = d.Detail
			return c
		}
	}
	return noData("the DNS server does not serve this cluster")
}

func membershipCell(cluster string, ms []replicator.Member, err error) Cell {
	if err != nil {
		return noData(errDetail(err))
	}
	var alive, total int
	var gone []string
	for _, m := range ms {
		if m.Tags[replicator.TagCluster] != cluster {
			continue
		}
		total++
		if m.Status == "alive" {
			alive++
		} else {
			gone = append(gone, m.Node+" "+m.Status)
		}
	}
	c := Cell{Text: fmt.Sprintf("%d/%d alive", alive, total), Detail: strings.Join(gone, ", ")}
	switch {
	case total == 0:
		return Cell{State: Warn, Text: "no agent seen", Detail: "no node of this cluster has joined the membership"}
	case alive == total:
		c.State = OK
	case alive > 0:
		c.State = Warn
	default:
		c.State = Fail
	}
	return c
}
