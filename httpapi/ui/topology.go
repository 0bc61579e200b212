package ui

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
)

// TopologyPicture is the replication topology drawn as an SVG: the
// clusters on a circle (in ring order in ring mode), the edges the mode
// makes changes travel along, and over them this agent's link to each
// peer, coloured by its state with its lag. Each link carries the state
// and lag `pbxtopo repl status -o json` gives for it.
type TopologyPicture struct {
	Mode          string
	Width, Height int
	Nodes         []TopoNode
	Edges         []TopoEdge // the topology's shape
	Links         []TopoLink // this agent's link to each peer
	Note          string     // why there are no links (a follower, an error)
}

// TopoNode is one cluster.
type TopoNode struct {
	Cluster string
	X, Y    float64
	Here    bool
	Primary bool
}

// TopoEdge is a way changes travel in the topology, from one cluster to
// another.
type TopoEdge struct{ X1, Y1, X2, Y2 float64 }

// TopoLink is this agent's link to a peer: the values of its LinkStatus.
type TopoLink struct {
	TopoEdge
	Peer    string
	State   string // as repl status says
	Lag     string // seconds behind, as repl status says
	Behind  uint64 // changes behind
	Class   string // the colour
	Label   string // shown at its middle
	Detail  string // shown on hover
	LX, LY  float64
	Dashed  bool
	Arrow   bool
	Contact string
}

// The picture: the clusters on a circle, wide enough beside it for the
// labels of the links.
const (
	topoW, topoH = 680.0, 480.0
	topoRadius   = 185.0
	nodeRadius   = 34.0
)

// topologyPicture draws rs (this agent's replication status) over the
// clusters of the enterprise.
func topologyPicture(rs *service.ReplStatus, clusters []string, now time.Time) TopologyPicture {
	p := TopologyPicture{Mode: string(rs.Mode), Width: int(topoW), Height: int(topoH)}
	names := map[string]bool{rs.Cluster: true}
	for _, c := range clusters {
		names[c] = true
	}
	for _, l := range rs.Links {
		names[l.Peer] = true
	}
	var order []string
	if rs.Mode == replicator.Ring {
		for _, c := range rs.Order {
			if names[c] && !slices.Contains(order, c) {
				order = append(order, c)
			}
		}
	}
	var rest []string
	for c := range names {
		if !slices.Contains(order, c) {
			rest = append(rest, c)
		}
	}
	slices.Sort(rest)
	order = append(order, rest...)
	pos := map[string][2]float64{}
	for i, name := range order {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(len(order))
		x, y := round1(topoW/2+topoRadius*math.Cos(a)), round1(topoH/2+topoRadius*math.Sin(a))
		pos[name] = [2]float64{x, y}
		p.Nodes = append(p.Nodes, TopoNode{Cluster: name, X: x, Y: y, Here: name == rs.Cluster,
			Primary: rs.Mode == replicator.Primary && name == rs.Primary})
	}
	edge := func(from, to string) TopoEdge {
		a, b := pos[from], pos[to]
		return shorten(a[0], a[1], b[0], b[1])
	}
	switch rs.Mode {
	case replicator.Ring:
		ring := slices.DeleteFunc(slices.Clone(rs.Order), func(c string) bool { return !names[c] })
		for i, from := range ring {
			if len(ring) > 1 {
				p.Edges = append(p.Edges, edge(from, ring[(i+1)%len(ring)]))
			}
		}
	case replicator.Primary:
		for _, n := range order {
			if n != rs.Primary && names[rs.Primary] {
				p.Edges = append(p.Edges, edge(rs.Primary, n))
			}
		}
	default:
		for i, a := range order {
			for _, b := range order[i+1:] {
				p.Edges = append(p.Edges, edge(a, b))
			}
		}
	}
	for _, l := range rs.Links {
		if _, ok := pos[l.Peer]; !ok {
			continue
		}
		tl := TopoLink{TopoEdge: edge(l.Peer, rs.Cluster), Peer: l.Peer, State: l.State,
			Lag: strconv.FormatFloat(l.SecondsBehind, 'f', -1, 64), Behind: l.Behind}
		tl.LX, tl.LY = round1((tl.X1+tl.X2)/2), round1((tl.Y1+tl.Y2)/2)
		tl.Class, tl.Label = linkLook(l)
		tl.Dashed = l.State != replicator.LinkConnected && l.State != replicator.LinkFailing
		tl.Arrow = !tl.Dashed
		tl.Detail = fmt.Sprintf("%s → %s: %s; %d changes and %.1f s behind", l.Peer, rs.Cluster, l.State, l.Behind, l.SecondsBehind)
		if !l.LastContact.IsZero() {
			tl.Contact = now.Sub(l.LastContact).Round(time.Second).String() + " ago"
			tl.Detail += "; last contact " + tl.Contact
		}
		if l.Detail != "" {
			tl.Detail += "; " + l.Detail
		} else if l.LastError != "" {
			tl.Detail += "; " + l.LastError
		}
		p.Links = append(p.Links, tl)
	}
	if rs.RunsOn != "" {
		p.Note = "this node follows its cluster's Raft leader " + rs.RunsOn + ", which runs replication: its page shows the links"
	}
	return p
}

// linkLook picks the colour and the label of a link.
func linkLook(l replicator.LinkStatus) (class, label string) {
	lag := time.Duration(l.SecondsBehind * float64(time.Second)).Round(time.Second)
	switch l.State {
	case replicator.LinkConnected:
		switch {
		case l.Behind == 0:
			return OK.Class(), "in sync"
		case lag >= lagFail:
			return Fail.Class(), fmt.Sprintf("%d behind · %s", l.Behind, lag)
		}
		return Warn.Class(), fmt.Sprintf("%d behind · %s", l.Behind, lag)
	case replicator.LinkFailing, replicator.LinkDead:
		if l.Behind > 0 {
			return Fail.Class(), fmt.Sprintf("%s · %d behind · %s", l.State, l.Behind, lag)
		}
		return Fail.Class(), l.State
	case replicator.LinkIndirect:
		if l.Behind > 0 {
			return Warn.Class(), fmt.Sprintf("via others · %d behind · %s", l.Behind, lag)
		}
		return None.Class(), "via others"
	}
	return None.Class(), l.State
}

// shorten returns the segment between two node centres, cut back so that
// it starts and ends at the nodes' circles.
func shorten(x1, y1, x2, y2 float64) TopoEdge {
	dx, dy := x2-x1, y2-y1
	d := math.Hypot(dx, dy)
	if d <= 2*nodeRadius {
		return TopoEdge{x1, y1, x2, y2}
	}
	k := nodeRadius / d
	return TopoEdge{round1(x1 + dx*k), round1(y1 + dy*k), round1(x2 - dx*k), round1(y2 - dy*k)}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
