package ami

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Report is a node's verify report, the guide's "sip-ha -v": the node's
// role, its Asterisk, the voice VIP, the trunks, the store, and (filled by
// the replicator when it exists) peers and replication.
type Report struct {
	Time     time.Time `json:"time"`
	Cluster  string    `json:"cluster"`
	Node     string    `json:"node,omitempty"`
	Verdict  string    `json:"verdict"` // NORMAL, DEGRADED, DOWN, UNKNOWN
	Problems []string  `json:"problems,omitempty"`
	Role     string    `json:"role,omitempty"`

	Asterisk    *AsteriskSection   `json:"asterisk,omitempty"`
	VIP         *VIPSection        `json:"vip,omitempty"`
	Trunks      []TrunkReport      `json:"trunks"`
	Extensions  *ExtensionsSection `json:"extensions,omitempty"`
	Store       *StoreSection      `json:"store,omitempty"`
	Nodes       []NodeHealth       `json:"nodes,omitempty"` // every node of the cluster that reported
	Peers       []PeerReport       `json:"peers,omitempty"` // from membership (the replicator)
	Replication *ReplicationReport `json:"replication,omitempty"`
	// Live says the report comes from a running agent, which fills Peers
	// and Replication; offline (a store read with --data-dir) it cannot.
	Live bool `json:"live"`
	// Published is the agent's latest publish of generated configuration
	// (its cluster's DUNDi files), filled by the agent that runs it.
	Published *PublishReport `json:"published,omitempty"`
	// MySQL is the realtime bridge, filled by the agent that has one.
	MySQL *BridgeSection `json:"mysql,omitempty"`
}

// BridgeSection is the MySQL realtime bridge as status shows it.
type BridgeSection struct {
	State      string   `json:"state"`
	DSN        string   `json:"dsn"`
	Position   string   `json:"position,omitempty"`
	LagSeconds float64  `json:"lag_seconds"`
	LastError  string   `json:"last_error,omitempty"`
	Parked     []string `json:"parked,omitempty"` // one line per parked row: row, problem, fix
}

// AddBridge adds the MySQL bridge; parked rows and a blocked bridge are
// problems that make a NORMAL verdict DEGRADED.
func (r *Report) AddBridge(b *BridgeSection) {
	if b == nil {
		return
	}
	r.MySQL = b
	var problems []string
	if b.State == "blocked" || b.State == "retrying" {
		problems = append(problems, "MySQL bridge "+b.State+": "+b.LastError)
	}
	for _, p := range b.Parked {
		problems = append(problems, "MySQL row parked: "+p)
	}
	if len(problems) > 0 && r.Verdict == "NORMAL" {
		r.Verdict = "DEGRADED"
	}
	r.Problems = append(r.Problems, problems...)
}

// PublishReport is the latest publish of generated configuration: when,
// from which store version, and what Asterisk made of it.
type PublishReport struct {
	What    string    `json:"what"` // "DUNDi files"
	Dir     string    `json:"dir"`
	Time    time.Time `json:"time"`
	Version string    `json:"version,omitempty"` // the store version they come from
	Result  string    `json:"result"`            // OK, UNCHANGED, FAILED, WRITTEN
	Changed []string  `json:"changed,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// AddPublished adds the latest publish to the report; a FAILED one
// degrades the verdict.
func (r *Report) AddPublished(p *PublishReport) {
	if p == nil {
		return
	}
	r.Published = p
	if p.Result == "FAILED" {
		if r.Verdict == "NORMAL" {
			r.Verdict = "DEGRADED"
		}
		r.Problems = append(r.Problems, p.What+" not published: "+p.Detail)
	}
}

// AsteriskSection is the node's link to its Asterisk.
type AsteriskSection struct {
	State     string    `json:"state"`
	Version   string    `json:"version,omitempty"`
	Error     string    `json:"error,omitempty"`
	Since     time.Time `json:"since"`
	Refreshed time.Time `json:"refreshed"`
	Reported  time.Time `json:"reported"` // when the node wrote this
	Stale     bool      `json:"stale,omitempty"`
}

// VIPSection is the voice VIP as probed with SIP OPTIONS.
type VIPSection struct {
	Address string `json:"address"`
	State   string `json:"state"` // answering, silent, unprobed
	RTTms   int    `json:"rtt_ms,omitempty"`
	Error   string `json:"error,omitempty"`
}

// TrunkReport is one trunk of the cluster.
type TrunkReport struct {
	Name         string `json:"name"`
	Protocol     string `json:"protocol,omitempty"`
	Host         string `json:"host,omitempty"`
	State        string `json:"state"` // available, unavailable, unknown, not reported
	Registration string `json:"registration,omitempty"`
	Reachable    string `json:"reachable,omitempty"`
	LastMs       string `json:"last_ms,omitempty"`
}

// ExtensionsSection counts the cluster's extensions by registration.
type ExtensionsSection struct {
	Configured  int `json:"configured"`
	Registered  int `json:"registered"`
	Static      int `json:"static"` // contact set in pjsip.conf, reachable or not qualified
	Unreachable int `json:"unreachable"`
}

// StoreSection describes the local store.
type StoreSection struct {
	Replica       string         `json:"replica"`
	Records       map[string]int `json:"records"`
	Conflicts     int            `json:"conflicts"`
	StatusEntries int            `json:"status_entries"`
	Streams       int            `json:"streams"` // origins seen in the summary
}

// PeerReport is another member as membership sees it (replicator).
type PeerReport struct {
	Name      string `json:"name"`
	Cluster   string `json:"cluster"`
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	Detail    string `json:"detail,omitempty"`
}

// ReplicationReport is the state of replication (replicator).
type ReplicationReport struct {
	Mode   string `json:"mode"`
	State  string `json:"state"` // in sync, behind, failing, on the leader
	Detail string `json:"detail,omitempty"`
}

// Unmonitored marks a report of a node that runs no AMI collector: its
// Asterisk is not watched (why says so), so no heartbeat is missing and
// the verdict comes from the parts the node does run.
func (r *Report) Unmonitored(why string) {
	if r.Asterisk != nil {
		return
	}
	r.Asterisk = &AsteriskSection{State: "not monitored", Error: why}
	r.Problems = slices.DeleteFunc(r.Problems, func(p string) bool { return p == noHealth })
	if r.Verdict == "UNKNOWN" {
		r.Verdict = "NORMAL"
		if r.Store != nil && r.Store.Conflicts > 0 {
			r.Verdict = "DEGRADED"
			r.Problems = append(r.Problems, fmt.Sprintf("%d records in conflict (pbxtopo conflicts list)", r.Store.Conflicts))
		}
	}
}

// Degrade lowers a NORMAL verdict to DEGRADED and adds the problem.
func (r *Report) Degrade(problem string) {
	if r.Verdict == "NORMAL" {
		r.Verdict = "DEGRADED"
	}
	r.Problems = append(r.Problems, problem)
}

const noHealth = "no health reported for this node: is the agent's AMI collector configured (ami.user) and connected?"

// BuildReport builds the report of one node of cluster from a store
// snapshot. With node "", the node that holds the VIP is chosen, else the
// one that reported last. stale is how old a heartbeat may be.
func BuildReport(sn *store.Snapshot, cluster, node string, now time.Time, stale time.Duration) (*Report, error) {
	r := &Report{Time: now.UTC(), Cluster: cluster, Trunks: []TrunkReport{}}
	healths, err := ReadStatus(sn, KindHealth, cluster)
	if err != nil {
		return nil, err
	}
	var me *NodeHealth
	for _, v := range healths {
		n := DecodeNodeHealth(v.Key.Node, v.Fields, now, stale)
		r.Nodes = append(r.Nodes, n)
	}
	sort.Slice(r.Nodes, func(i, j int) bool { return r.Nodes[i].Node < r.Nodes[j].Node })
	for i := range r.Nodes {
		n := &r.Nodes[i]
		switch {
		case node != "" && n.Node == node:
			me = n
		case node == "" && (me == nil || n.Role == "active" && me.Role != "active" ||
			(n.Role == "active") == (me.Role == "active") && n.Updated.After(me.Updated)):
			me = n
		}
	}
	if me != nil {
		r.Node, r.Role = me.Node, me.Role
		r.Asterisk = &AsteriskSection{State: me.AMI, Version: me.AMIVersion, Error: me.AMIError, Since: me.AMISince,
			Refreshed: me.Refreshed, Reported: me.Updated, Stale: me.Stale}
		if me.VIP != "" {
			r.VIP = &VIPSection{Address: me.VIP, State: me.VIPState, RTTms: me.VIPMs, Error: me.VIPError}
		}
	} else {
		r.Node = node
	}
	if err := r.addTrunks(sn, cluster); err != nil {
		return nil, err
	}
	if err := r.addExtensions(sn, cluster); err != nil {
		return nil, err
	}
	if err := r.addStore(sn); err != nil {
		return nil, err
	}
	r.judge(me)
	return r, nil
}

func (r *Report) addTrunks(sn *store.Snapshot, cluster string) error {
	views, err := ReadStatus(sn, KindTrunk, cluster)
	if err != nil {
		return err
	}
	byName := map[string][]View{}
	for _, v := range views {
		byName[v.Key.Name] = append(byName[v.Key.Name], v)
	}
	return sn.Scan("trunks", cluster+"/", func(key string, value []byte) error {
		name := key[len(cluster)+1:]
		cfg, err := pbx.DecodeFields(value)
		if err != nil {
			return nil
		}
		t := TrunkReport{Name: name, Protocol: cfg["protocol"], Host: cfg["host"], State: "not reported"}
		if vs := byName[name]; len(vs) > 0 {
			f := MergeViews(vs).Fields
			t.State, t.Registration, t.Reachable, t.LastMs = f["state"], f["regstatus"], f["reachable"], f["lastms"]
		}
		r.Trunks = append(r.Trunks, t)
		return nil
	})
}

func (r *Report) addExtensions(sn *store.Snapshot, cluster string) error {
	exts, err := Extensions(sn, cluster)
	if err != nil {
		return err
	}
	s := &ExtensionsSection{}
	err = sn.Scan("extensions", cluster+"/", func(key string, _ []byte) error {
		s.Configured++
		if v, ok := exts[key]; ok {
			switch v.Fields["regstatus"] {
			case "registered", "lagged":
				s.Registered++
			case "static":
				s.Static++
			case "unreachable":
				s.Unreachable++
			}
		}
		return nil
	})
	r.Extensions = s
	return err
}

func (r *Report) addStore(sn *store.Snapshot) error {
	s := &StoreSection{Replica: r.Cluster, Records: map[string]int{}}
	for _, t := range sn.Tables() {
		s.Records[t] = sn.Count(t)
	}
	sum, err := sn.Summary()
	if err != nil {
		return err
	}
	s.Streams = len(sum)
	sn.Conflicts(func(*store.Record) error { s.Conflicts++; return nil })
	sn.Status("", func(string, []byte) error { s.StatusEntries++; return nil })
	r.Store = s
	return nil
}

// judge sets the verdict and the problems.
func (r *Report) judge(me *NodeHealth) {
	if me == nil {
		r.Verdict = "UNKNOWN"
		r.Problems = append(r.Problems, noHealth)
		return
	}
	r.Verdict = "NORMAL"
	if me.Stale {
		r.Verdict = "DOWN"
		r.Problems = append(r.Problems, fmt.Sprintf("no heartbeat from node %s since %s", me.Node, me.Updated.UTC().Format(time.RFC3339)))
	}
	if me.AMI != StateConnected {
		r.Verdict = "DOWN"
		msg := "Asterisk manager interface " + me.AMI
		if me.AMIError != "" {
			msg += ": " + me.AMIError
		}
		r.Problems = append(r.Problems, msg)
	}
	degrade := func(p string) {
		if r.Verdict == "NORMAL" {
			r.Verdict = "DEGRADED"
		}
		r.Problems = append(r.Problems, p)
	}
	if r.VIP != nil && r.VIP.State == "silent" {
		degrade("voice VIP " + r.VIP.Address + " does not answer SIP")
	}
	for _, t := range r.Trunks {
		if t.State == "unavailable" {
			degrade("trunk " + t.Name + " NOT available")
		}
	}
	if r.Store != nil && r.Store.Conflicts > 0 {
		degrade(fmt.Sprintf("%d records in conflict (pbxtopo conflicts list)", r.Store.Conflicts))
	}
}

// WriteText prints the report the way the guide's "sip-ha -v" reads.
func (r *Report) WriteText(w io.Writer) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("pbxtopo verify report")
	p("-----")
	p("cluster          : %s", r.Cluster)
	p("node             : %s", orDash(r.Node))
	p("timestamp        : %s", r.Time.Format("01/02/2006-15:04:05"))
	switch r.Role {
	case "active":
		p("This node is ACTIVE: it holds the voice VIP")
	case "standby":
		p("This node is STANDBY: another node holds the voice VIP")
	default:
		if a := r.Asterisk; a != nil && a.State == "not monitored" {
			p("Role of this node not known: the AMI collector reports which node holds the voice VIP")
		} else {
			p("Role of this node unknown (no voice VIP configured or not probed)")
		}
	}
	p("")
	if a := r.Asterisk; a != nil && a.State == "not monitored" {
		p("Asterisk not monitored: %s", a.Error)
	} else if a != nil {
		line := "Asterisk manager interface " + a.State
		if a.Version != "" {
			line += " (protocol " + a.Version + ")"
		}
		if a.Error != "" {
			line += ": " + a.Error
		}
		if a.Stale {
			line += " [report stale: last heartbeat " + a.Reported.UTC().Format(time.RFC3339) + "]"
		}
		p("%s", line)
	}
	if v := r.VIP; v != nil {
		switch v.State {
		case "answering":
			p("VIP service address %s reachable (%d ms)", v.Address, v.RTTms)
		case "silent":
			p("VIP service address %s NOT reachable: %s", v.Address, v.Error)
		default:
			p("VIP service address %s not probed yet", v.Address)
		}
	} else {
		p("VIP service address not configured")
	}
	for _, t := range r.Trunks {
		desc := strings.TrimSpace(t.Protocol + " " + t.Host)
		switch t.State {
		case "available":
			p("%s trunk %s available", t.Name, desc)
		case "unavailable":
			p("%s trunk %s NOT available (registration %s, reachable %s)", t.Name, desc, orDash(t.Registration), orDash(t.Reachable))
		default:
			p("%s trunk %s state %s", t.Name, desc, t.State)
		}
	}
	if e := r.Extensions; e != nil {
		if e.Static > 0 {
			p("Extensions: %d configured, %d registered, %d with a static contact, %d unreachable", e.Configured, e.Registered, e.Static, e.Unreachable)
		} else {
			p("Extensions: %d configured, %d registered, %d unreachable", e.Configured, e.Registered, e.Unreachable)
		}
	}
	for _, n := range r.Nodes {
		if n.Node != r.Node {
			p("Cluster node %s: AMI %s, role %s, reported %s", n.Node, n.AMI, orDash(n.Role), n.Updated.UTC().Format(time.RFC3339))
		}
	}
	switch {
	case !r.Live:
		p("Peers and replication: not known offline (this report was read from a store, not asked of a running agent)")
	case len(r.Peers) == 0:
		p("Peers: no other node in the membership")
	}
	for _, pr := range r.Peers {
		state := "alive"
		if !pr.Reachable {
			state = "NOT alive"
		}
		line := fmt.Sprintf("Peer %s (%s) %s %s", pr.Name, pr.Cluster, pr.Address, state)
		if pr.Detail != "" {
			line += ": " + pr.Detail
		}
		p("%s", line)
	}
	if rp := r.Replication; rp != nil {
		line := fmt.Sprintf("Replication: %s mode, %s", rp.Mode, rp.State)
		if rp.Detail != "" {
			line += ": " + rp.Detail
		}
		p("%s", line)
	}
	if pub := r.Published; pub != nil {
		line := fmt.Sprintf("%s in %s: %s", pub.What, pub.Dir, pub.Result)
		if !pub.Time.IsZero() {
			line += " at " + pub.Time.UTC().Format(time.RFC3339)
		}
		if pub.Version != "" {
			line += " from store version " + pub.Version
		}
		if len(pub.Changed) > 0 {
			line += " (wrote " + strings.Join(pub.Changed, ", ") + ")"
		}
		if pub.Detail != "" && pub.Result != "FAILED" {
			line += ": " + pub.Detail
		}
		p("%s", line)
	}
	if m := r.MySQL; m != nil {
		p("MySQL bridge %s: %s at %s, %.1f s behind, %d rows parked", m.DSN, m.State, dashIfEmpty(m.Position), m.LagSeconds, len(m.Parked))
	}
	if s := r.Store; s != nil {
		total := 0
		for _, n := range s.Records {
			total += n
		}
		p("Store: replica %s, %d records, %d conflicts, %d status entries", orDash(s.Replica), total, s.Conflicts, s.StatusEntries)
	}
	p("")
	for _, pr := range r.Problems {
		p("PROBLEM: %s", pr)
	}
	_, err := fmt.Fprintf(w, "- NOW IN %s STATE -\n", r.Verdict)
	return err
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
