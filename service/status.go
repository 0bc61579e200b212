package service

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// StatusAPI is the live status the AMI collectors keep in the store's
// status space: the node's verify report (pbxtopo status) and the status
// of every extension (the guide's home page at a glance).
type StatusAPI interface {
	StatusReport(ctx context.Context, node string) (*ami.Report, error)
	ExtensionStatus(ctx context.Context, cluster string) ([]pbx.Fields, error)
}

var (
	_ StatusAPI = (*Service)(nil)
)

// replicaOf returns the cluster of the service's store.
func (s *Service) replicaOf() string {
	if s.deps.Cluster != "" {
		return s.deps.Cluster
	}
	if r, ok := baseStore(s.st).(interface{ Replica() string }); ok {
		return r.Replica()
	}
	return ""
}

// StatusReport implements StatusAPI over the local store: the report of
// node (or of the node holding the VIP) of this store's cluster.
func (s *Service) StatusReport(ctx context.Context, node string) (*ami.Report, error) {
	var r *ami.Report
	self := node == "" || node == s.deps.Node
	if node == "" {
		node = s.deps.Node // a running agent reports on itself
	}
	if node != "" && s.deps.Node != "" && !self {
		if err := s.checkNode(node); err != nil {
			return nil, err
		}
	}
	err := s.st.View(func(sn *store.Snapshot) error {
		var err error
		r, err = ami.BuildReport(sn, s.replicaOf(), node, time.Now(), ami.DefaultStaleness)
		return err
	})
	if err == nil && self && s.deps.Node != "" && !s.deps.AMI {
		r.Unmonitored("this agent runs no AMI collector (ami.user is not set), so its Asterisk is not watched")
	}
	if err == nil && s.deps.Members != nil {
		s.addLive(ctx, r)
	}
	if err == nil && s.deps.Certs != nil {
		r.Problems = append(r.Problems, certWarnings(s.deps.Certs(), time.Now())...)
	}
	if err == nil && s.deps.Published != nil && (r.Node == s.deps.Node || r.Node == "") {
		r.AddPublished(s.deps.Published())
	}
	if err == nil && s.deps.MySQL != nil && (r.Node == s.deps.Node || r.Node == "") {
		r.AddBridge(bridgeSection(s.deps.MySQL()))
	}
	if h := s.dnsHold(); h != nil && err == nil {
		if r.Verdict == "NORMAL" {
			r.Verdict = "DEGRADED"
		}
		r.Problems = append(r.Problems, fmt.Sprintf("DNS health held until %s: this node lost %s (%d of %d clusters) at once "+
			"and answers from its last good view (the hold-down rule)", h.Until.UTC().Format(time.RFC3339), strings.Join(h.Lost, ", "), len(h.Lost), h.Known))
	}
	return r, UserError(err)
}

// ExtensionStatus implements StatusAPI: every configured extension of a
// cluster (this store's when cluster is "") with its merged status
// columns.
func (s *Service) ExtensionStatus(ctx context.Context, cluster string) ([]pbx.Fields, error) {
	if cluster == "" {
		cluster = s.replicaOf()
	} else if err := s.checkNames(cluster, "", ""); err != nil {
		return nil, err
	}
	var rows []pbx.Fields
	err := s.st.View(func(sn *store.Snapshot) error {
		status, err := ami.Extensions(sn, cluster)
		if err != nil {
			return err
		}
		return sn.Scan("extensions", cluster+"/", func(key string, value []byte) error {
			row := pbx.Fields{"cluster": cluster}
			for _, f := range []string{"regexten", "name", "astgroup", "mailbox"} {
				row[f], _ = pbx.LookupField(value, f)
			}
			if v, ok := status[key]; ok {
				for k, val := range v.Fields {
					row[k] = val
				}
			}
			rows = append(rows, row.Compact())
			return nil
		})
	})
	sort.SliceStable(rows, func(i, j int) bool { return rows[i]["regexten"] < rows[j]["regexten"] })
	if rows == nil {
		rows = []pbx.Fields{}
	}
	return rows, UserError(err)
}

// checkNode refuses a node name no member of this cluster has.
func (s *Service) checkNode(node string) error {
	var names []string
	for _, m := range s.members() {
		if m.Tags[replicator.TagCluster] == s.deps.Cluster {
			if m.Node == node {
				return nil
			}
			names = append(names, m.Node)
		}
	}
	return &Error{Code: 404, Msg: fmt.Sprintf("no node %s in cluster %s: its nodes are %s (pbxtopo members)", node, s.deps.Cluster, strings.Join(names, ", "))}
}

// addLive adds what a running agent knows beside the store: the other
// members and the state of replication.
func (s *Service) addLive(ctx context.Context, r *ami.Report) {
	r.Live = true
	for _, m := range s.members() {
		if m.Node == s.deps.Node {
			continue
		}
		pr := ami.PeerReport{Name: m.Node, Cluster: m.Tags[replicator.TagCluster], Address: m.Tags[replicator.TagRepl],
			Reachable: m.Status == "alive"}
		if m.Certificate != "" && m.Certificate != replicator.CertVerified {
			pr.Detail = "certificate " + m.Certificate
		}
		if !pr.Reachable {
			pr.Detail = strings.TrimPrefix(pr.Detail+"; "+m.Status, "; ")
			if m.Status == "failed" {
				r.Degrade(fmt.Sprintf("peer %s (%s) failed", m.Node, pr.Cluster))
			}
		}
		r.Peers = append(r.Peers, pr)
	}
	s.addProbe(r)
	if s.deps.Repl == nil {
		return
	}
	st, err := s.ReplStatus(ctx)
	if err != nil {
		r.Replication = &ami.ReplicationReport{State: "unknown", Detail: err.Error()}
		return
	}
	r.Replication = replicationSummary(st)
	if st.DiskFull {
		r.Degrade("the store's disk is full: writes are refused")
	}
	for _, l := range st.Links {
		switch l.State {
		case replicator.LinkFailing:
			r.Degrade(fmt.Sprintf("replication from %s failing: %s", l.Peer, l.LastError))
		case replicator.LinkDead:
			r.Degrade(fmt.Sprintf("cluster %s is dead in the membership: nothing replicates from it", l.Peer))
		}
	}
}

// addProbe gives a report without the AMI collector's view of the voice
// VIP the agent's own SIP probe of it (dns.probe), when it runs one.
func (s *Service) addProbe(r *ami.Report) {
	if r.VIP != nil || s.health == nil {
		return
	}
	for _, h := range s.health.Status() {
		if h.Cluster != s.deps.Cluster || h.Probe == nil || h.Target == "" {
			continue
		}
		r.VIP = &ami.VIPSection{Address: h.Target, State: "answering", RTTms: int(h.RTTMillis + 0.5)}
		if !*h.Probe {
			r.VIP.State, r.VIP.Error = "silent", "the agent's SIP OPTIONS probe gets no answer"
			r.Degrade("voice VIP " + h.Target + " does not answer SIP")
		}
	}
}

// replicationSummary says in one line how replication is doing.
func replicationSummary(st *ReplStatus) *ami.ReplicationReport {
	rr := &ami.ReplicationReport{Mode: string(st.Mode)}
	if st.RunsOn != "" || len(st.Links) > 0 && st.Links[0].State == "on-leader" {
		rr.State = "runs on the Raft leader"
		rr.Detail = "node " + orNone(st.RunsOn) + " replicates for cluster " + st.Cluster + "; this node follows it through Raft"
		return rr
	}
	var behind uint64
	var worst float64
	var failing, waiting []string
	for _, l := range st.Links {
		behind += l.Behind
		worst = max(worst, l.SecondsBehind)
		switch l.State {
		case replicator.LinkFailing, replicator.LinkDead:
			failing = append(failing, l.Peer+" "+l.State)
		case replicator.LinkWaiting:
			waiting = append(waiting, l.Peer)
		}
	}
	switch {
	case len(failing) > 0:
		rr.State = "failing"
		rr.Detail = strings.Join(failing, ", ")
	case behind > 0:
		rr.State = "behind"
		rr.Detail = fmt.Sprintf("%d changes behind, for up to %.0f s", behind, worst)
	case len(waiting) > 0:
		rr.State = "starting"
		rr.Detail = "no answer yet from " + strings.Join(waiting, ", ")
	default:
		rr.State = "in sync"
		rr.Detail = fmt.Sprintf("%d peer clusters", len(st.Links))
	}
	return rr
}

func orNone(s string) string {
	if s == "" {
		return "(none: no leader now)"
	}
	return s
}
