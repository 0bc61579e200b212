package ami

import (
	"strconv"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// NodeHealth is one node's health entry, decoded.
type NodeHealth struct {
	Node           string    `json:"node"`
	AMI            string    `json:"ami"` // a Client state: connected, down, auth_failed...
	AMIError       string    `json:"ami_error,omitempty"`
	AMIVersion     string    `json:"ami_version,omitempty"`
	AMISince       time.Time `json:"ami_since"`
	Role           string    `json:"role,omitempty"` // active (holds the VIP), standby
	VIP            string    `json:"vip,omitempty"`
	VIPState       string    `json:"vip_state,omitempty"` // answering, silent, unprobed
	VIPMs          int       `json:"vip_ms,omitempty"`
	VIPError       string    `json:"vip_error,omitempty"`
	TrunksTotal    int       `json:"trunks_total"`
	TrunksUp       int       `json:"trunks_up"`
	TrunksDown     []string  `json:"trunks_down,omitempty"`
	ExtsTotal      int       `json:"extensions_total"`
	ExtsRegistered int       `json:"extensions_registered"`
	Refreshed      time.Time `json:"refreshed"`
	Updated        time.Time `json:"updated"`
	Stale          bool      `json:"stale,omitempty"` // no heartbeat for longer than the staleness limit
}

// DecodeNodeHealth reads a health entry's fields.
func DecodeNodeHealth(node string, f pbx.Fields, now time.Time, stale time.Duration) NodeHealth {
	n := NodeHealth{Node: node, AMI: f["ami"], AMIError: f["ami_error"], AMIVersion: f["ami_version"],
		AMISince: msTime(f["ami_since"]), Role: f["role"], VIP: f["vip"], VIPState: f["vip_state"],
		VIPMs: atoiDefault(f["vip_ms"], 0), VIPError: f["vip_error"], TrunksTotal: atoiDefault(f["trunks_total"], 0),
		TrunksUp: atoiDefault(f["trunks_up"], 0), ExtsTotal: atoiDefault(f["exts_total"], 0),
		ExtsRegistered: atoiDefault(f["exts_registered"], 0), Refreshed: msTime(f["refreshed"]), Updated: Updated(f)}
	if d := f["trunks_down"]; d != "" {
		n.TrunksDown = strings.Split(d, ",")
	}
	n.Stale = now.Sub(n.Updated) > stale
	return n
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// alive reports whether the node says its Asterisk answers: a fresh
// heartbeat with AMI connected, or its voice VIP answering SIP.
func (n NodeHealth) alive() bool {
	return !n.Stale && (n.AMI == StateConnected || n.VIPState == "answering")
}

// ClusterHealth is a cluster's health from its nodes' reports.
type ClusterHealth struct {
	Cluster string       `json:"cluster"`
	Known   bool         `json:"known"` // some node reported (fresh or not)
	Up      bool         `json:"up"`
	Reason  string       `json:"reason"`
	Nodes   []NodeHealth `json:"nodes"`
}

// StatusReader reads the store.
type StatusReader interface {
	View(fn func(*store.Snapshot) error) error
}

// HealthView answers whether clusters are up from the health entries in
// the status space: the local cluster's from its collectors, other
// clusters' once the replicator ships their status. DNS and DUNDi
// consume it (through their own small interfaces).
type HealthView struct {
	st    StatusReader
	stale time.Duration
	now   func() time.Time
}

// NewHealthView returns a view over st; a node whose last heartbeat is
// older than stale counts as silent (3 heartbeats is a good value).
func NewHealthView(st StatusReader, stale time.Duration, now func() time.Time) *HealthView {
	if now == nil {
		now = time.Now
	}
	return &HealthView{st: st, stale: stale, now: now}
}

// Up reports whether a cluster can take calls as far as its Asterisk
// servers say. A cluster no node has reported on is not known to be down,
// so it counts as up: DESIGN.md §14 drops a cluster only on evidence, and
// Serf membership is the other half of that evidence.
func (h *HealthView) Up(cluster string) bool {
	c := h.Cluster(cluster)
	return !c.Known || c.Up
}

// Cluster returns the details of a cluster's health.
func (h *HealthView) Cluster(cluster string) ClusterHealth {
	ch := ClusterHealth{Cluster: cluster}
	var views []View
	h.st.View(func(sn *store.Snapshot) error {
		var err error
		views, err = ReadStatus(sn, KindHealth, cluster)
		return err
	})
	now := h.now()
	for _, v := range views {
		ch.Nodes = append(ch.Nodes, DecodeNodeHealth(v.Key.Node, v.Fields, now, h.stale))
	}
	ch.Known = len(ch.Nodes) > 0
	ch.Up, ch.Reason = clusterVerdict(ch.Nodes)
	return ch
}

func clusterVerdict(nodes []NodeHealth) (bool, string) {
	if len(nodes) == 0 {
		return false, "no node of the cluster has reported health"
	}
	var why []string
	for _, n := range nodes {
		if n.alive() {
			if n.AMI == StateConnected {
				return true, "node " + n.Node + ": Asterisk answers on AMI"
			}
			return true, "node " + n.Node + ": the voice VIP answers SIP"
		}
		switch {
		case n.Stale:
			why = append(why, "node "+n.Node+": no heartbeat since "+n.Updated.UTC().Format(time.RFC3339))
		default:
			why = append(why, "node "+n.Node+": AMI "+n.AMI+", VIP "+orDash(n.VIPState))
		}
	}
	return false, strings.Join(why, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// DefaultStaleness is how old a health entry may be before its node
// counts as silent: three heartbeats of the default configuration.
const DefaultStaleness = 90 * time.Second
