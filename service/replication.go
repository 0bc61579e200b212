package service

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/mysql"
	"github.com/pbxtopo/pbxtopo/store"
)

// Replication is what the service needs of the running replication.
type Replication interface {
	Status() []replicator.LinkStatus
	Topology() replicator.Topology
	CheckWrite(table string) error
	// Clusters are the enterprise's clusters, this one included, less
	// the decommissioned ones, sorted.
	Clusters(sn *store.Snapshot) ([]string, error)
}

// Deps are the live parts an agent gives its service; offline tools give
// none, and the features that need them say so.
type Deps struct {
	Repl    Replication
	Members func() []replicator.Member
	// Digests asks every reachable replica for its digests.
	Digests func(ctx context.Context) []PeerDigests
	Keys    GossipKeys
	Raft    RaftView
	Cluster string
	Node    string
	// AMI says the agent runs an AMI collector (ami.user), so the status
	// report expects its heartbeat.
	AMI bool
	// Audit records actions the store's history does not (auditlog.go).
	Audit *AuditLog
	// Certs lists the certificates the agent uses (certs.go).
	Certs func() []CertExpiry
	// Published is the latest publish of this node's generated config
	// (nil: it publishes none).
	Published func() *ami.PublishReport
	// MySQL is the realtime bridge's status (nil: no mysql.dsn).
	MySQL func() *mysql.BridgeStatus
}

// PeerDigests is one replica's answer to verify.
type PeerDigests struct {
	Cluster string
	Addr    string
	Reply   *replicator.DigestResponse
	Err     error
}

// NewServiceWith returns a service over st with the agent's live parts.
// Writes on a read-only replica (primary mode) are refused here.
func NewServiceWith(st Store, deps Deps) *Service {
	if deps.Repl != nil {
		st = gatedStore{st, deps.Repl.CheckWrite}
	}
	return &Service{st: roleStore{st}, deps: deps}
}

// gatedStore refuses writes the replication topology forbids.
type gatedStore struct {
	Store
	check func(table string) error
}

func (g gatedStore) Write(ctx context.Context, author string, muts []store.Mutation) (store.WriteResult, error) {
	for _, m := range muts {
		if err := g.check(m.Table); err != nil {
			return store.WriteResult{}, &Error{Code: 403, Msg: err.Error(), Err: err}
		}
	}
	return g.Store.Write(ctx, author, muts)
}

func (g gatedStore) Revert(ctx context.Context, author string, id store.Dot) (store.WriteResult, *store.Change, error) {
	if err := g.check(""); err != nil {
		return store.WriteResult{}, nil, &Error{Code: 403, Msg: err.Error(), Err: err}
	}
	return g.Store.Revert(ctx, author, id)
}

// ReplicationAPI is membership, replication status and verify, the
// topology, and conflicts.
type ReplicationAPI interface {
	Members(ctx context.Context) ([]replicator.Member, error)
	ReplStatus(ctx context.Context) (*ReplStatus, error)
	ReplVerify(ctx context.Context) (*VerifyReport, error)
	LagHistory(ctx context.Context) ([]replicator.LagSample, error)
	SetTopology(ctx context.Context, t TopologyChange) (*WriteReply, error)
	Conflicts(ctx context.Context) ([]ConflictView, error)
	Conflict(ctx context.Context, ref string) (*ConflictView, error)
	Resolve(ctx context.Context, ref string, req ResolveRequest) (*WriteReply, error)
}

var (
	_ ReplicationAPI = (*Service)(nil)
)

func (s *Service) needAgent(what string) error {
	if s.deps.Repl == nil {
		return &Error{Code: 400, Msg: what + " needs a running agent: use --addr"}
	}
	return nil
}

// Members returns every node membership knows.
func (s *Service) Members(ctx context.Context) ([]replicator.Member, error) {
	if s.deps.Members == nil {
		return nil, s.needAgent("members")
	}
	return s.deps.Members(), nil
}

// ReplStatus is `pbxtopo repl status`.
type ReplStatus struct {
	Cluster    string          `json:"cluster"`
	Node       string          `json:"node,omitempty"` // the node that answered
	Mode       replicator.Mode `json:"mode"`
	Order      []string        `json:"order,omitempty"`
	Primary    string          `json:"primary,omitempty"`
	SiteTables []string        `json:"site_tables,omitempty"` // site mode: the tables kept within a site
	// RunsOn names the node that runs replication for the cluster (its
	// Raft leader) when it is not the node that answered, and RunsOnAPI
	// its API address; Links then come from that node's last term here,
	// if any.
	RunsOn    string `json:"runs_on,omitempty"`
	RunsOnAPI string `json:"runs_on_api,omitempty"`
	// Links has one entry per peer cluster of the topology.
	Links    []replicator.LinkStatus `json:"links"`
	Changes  uint64                  `json:"changes_applied_here"`
	SkewSeen uint64                  `json:"clock_skew_alarms"`
	// StatusLinks: live status pulled from each source (replicator/status.go).
	StatusLinks []replicator.StatusLinkStats `json:"status_links,omitempty"`
	DiskFull    bool                         `json:"disk_full,omitempty"` // the store refuses writes: its disk is full
	// MySQL is this node's realtime bridge (it runs on the cluster's Raft
	// leader), with its parked rows.
	MySQL *mysql.BridgeStatus `json:"mysql,omitempty"`
}

// ReplStatus returns the state of every replication link.
func (s *Service) ReplStatus(ctx context.Context) (*ReplStatus, error) {
	if err := s.needAgent("repl status"); err != nil {
		return nil, err
	}
	t := s.deps.Repl.Topology()
	out := &ReplStatus{Cluster: s.deps.Cluster, Node: s.deps.Node, Mode: t.Mode, Order: t.Order, Primary: t.Primary,
		SiteTables: t.SiteOnlyTables(), Links: s.deps.Repl.Status()}
	peers, err := s.topologyPeers()
	if err != nil {
		return nil, err
	}
	for _, p := range peers {
		if !slices.ContainsFunc(out.Links, func(l replicator.LinkStatus) bool { return l.Peer == p }) {
			out.Links = append(out.Links, replicator.LinkStatus{Peer: p, Mode: t.Mode, State: replicator.LinkWaiting,
				Detail: "this replica has no link to it yet"})
		}
	}
	sort.Slice(out.Links, func(i, j int) bool { return out.Links[i].Peer < out.Links[j].Peer })
	if r := s.deps.Raft; r != nil && r.State() != "leader" {
		out.RunsOn = r.LeaderNode()
		for _, m := range s.members() {
			if m.Node == out.RunsOn {
				out.RunsOnAPI = m.Tags[replicator.TagHTTP]
			}
		}
		for i := range out.Links {
			l := &out.Links[i]
			l.State, l.Detail = "on-leader", "replication runs on the Raft leader"
			if out.RunsOn != "" {
				l.Detail += " " + out.RunsOn
			} else {
				l.Detail = "the cluster has no Raft leader now: nothing replicates until it elects one"
			}
			l.Connected = false
		}
	}
	if sr, ok := s.deps.Repl.(replicator.StatusReporter); ok {
		out.StatusLinks = sr.StatusStats()
	}
	if st, ok := baseStore(s.st).(*store.Store); ok {
		stats := st.Stats()
		out.Changes, out.SkewSeen = stats.LSN, stats.SkewAlarm
	}
	if st := s.localStore(); st != nil {
		out.DiskFull = st.DiskFull()
	}
	if s.deps.MySQL != nil {
		out.MySQL = s.deps.MySQL()
	}
	return out, nil
}

// LagHistory returns how far behind each link was over the last hour,
// one sample every ten seconds, from the node that runs replication (none
// on a follower).
func (s *Service) LagHistory(ctx context.Context) ([]replicator.LagSample, error) {
	if err := s.needAgent("the lag history"); err != nil {
		return nil, err
	}
	out := []replicator.LagSample{}
	if h, ok := s.deps.Repl.(interface{ LagHistory() []replicator.LagSample }); ok {
		out = append(out, h.LagHistory()...)
	}
	return out, nil
}

// baseStore is the store under the service's checks (roleStore,
// gatedStore).
func baseStore(st Store) Store {
	for {
		switch s := st.(type) {
		case roleStore:
			st = s.Store
		case gatedStore:
			st = s.Store
		default:
			return st
		}
	}
}

// VerifyReport says whether the replicas hold the same data.
type VerifyReport struct {
	Cluster string      `json:"cluster"`
	Rows    []VerifyRow `json:"replicas"`
	AllSame bool        `json:"all_same"`
}

// SameAt reports whether each of clusters (other than the one that
// verified) is in the report and matches: what a test or a harness that
// runs part of an enterprise checks, since the clusters it never started
// stay unreachable and AllSame false.
func (v *VerifyReport) SameAt(clusters []string) bool {
	for _, c := range clusters {
		if c == v.Cluster {
			continue
		}
		if !slices.ContainsFunc(v.Rows, func(r VerifyRow) bool { return r.Cluster == c && r.State == "same" }) {
			return false
		}
	}
	return true
}

// VerifyRow is one replica compared with this one.
type VerifyRow struct {
	Cluster string   `json:"cluster"`
	State   string   `json:"state"` // same, differs, catching-up, unreachable
	Behind  uint64   `json:"changes_behind,omitempty"`
	Ahead   uint64   `json:"changes_ahead,omitempty"`
	Tables  []string `json:"tables_differ,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// ReplVerify asks every reachable replica for its digests and compares
// them with this one's. Digests are compared only when the summaries are
// equal; otherwise the replica is still catching up, and the report says
// by how many changes.
func (s *Service) ReplVerify(ctx context.Context) (*VerifyReport, error) {
	if s.deps.Digests == nil {
		return nil, s.needAgent("repl verify")
	}
	var mine *replicator.DigestResponse
	err := s.st.View(func(sn *store.Snapshot) error {
		sum, err := sn.Summary()
		if err != nil {
			return err
		}
		ds, err := sn.Digests()
		mine = &replicator.DigestResponse{Cluster: s.deps.Cluster, Summary: sum, Digests: ds}
		return err
	})
	if err != nil {
		return nil, UserError(err)
	}
	rep := &VerifyReport{Cluster: s.deps.Cluster, AllSame: true}
	for _, p := range s.deps.Digests(ctx) {
		rep.Rows = append(rep.Rows, CompareDigests(mine, p))
	}
	// Every cluster of the topology, also those no node of which is in
	// the membership: a replica nobody could ask is not one that matches.
	peers, err := s.topologyPeers()
	if err != nil {
		return nil, err
	}
	for _, p := range peers {
		if !slices.ContainsFunc(rep.Rows, func(r VerifyRow) bool { return r.Cluster == p }) {
			rep.Rows = append(rep.Rows, VerifyRow{Cluster: p, State: "unreachable",
				Error: "no node of " + p + " is in the membership: it was never started, or is gone (pbxtopo members)"})
		}
	}
	for _, row := range rep.Rows {
		if row.State != "same" {
			rep.AllSame = false
		}
	}
	sort.Slice(rep.Rows, func(i, j int) bool { return rep.Rows[i].Cluster < rep.Rows[j].Cluster })
	return rep, nil
}

// CompareDigests compares one replica's answer with this replica's state,
// on the enterprise-wide streams and tables both hold.
func CompareDigests(mine *replicator.DigestResponse, p PeerDigests) VerifyRow {
	row := VerifyRow{Cluster: p.Cluster}
	if p.Err != nil {
		row.State, row.Error = "unreachable", p.Err.Error()
		return row
	}
	shared := func(st store.Stream) bool { return st.Scope() == "" }
	for st, seq := range p.Reply.Summary {
		if shared(st) && seq > mine.Summary[st] {
			row.Behind += seq - mine.Summary[st]
		}
	}
	for st, seq := range mine.Summary {
		if shared(st) && seq > p.Reply.Summary[st] {
			row.Ahead += seq - p.Reply.Summary[st]
		}
	}
	if row.Behind+row.Ahead > 0 {
		row.State = "catching-up"
		return row
	}
	tables := map[string]bool{}
	for t := range mine.Digests {
		tables[t] = true
	}
	for t := range p.Reply.Digests {
		tables[t] = true
	}
	for t := range tables {
		a, b := mine.Digests[t], p.Reply.Digests[t]
		if a.Buckets != b.Buckets {
			row.Tables = append(row.Tables, t)
		}
	}
	sort.Strings(row.Tables)
	row.State = "same"
	if len(row.Tables) > 0 {
		row.State = "differs"
	}
	return row
}

// TopologyChange changes parts of the replication topology; empty fields
// keep their value.
type TopologyChange struct {
	Mode       string   `json:"mode,omitempty"`
	Order      []string `json:"order,omitempty"`
	Primary    string   `json:"primary,omitempty"`
	SiteTables []string `json:"site_tables,omitempty"`
	// Force makes a change the service would refuse as a likely mistake:
	// a ring order that leaves out a live cluster, a primary outside
	// primary mode, a cluster no record or member names.
	Force bool `json:"force,omitempty"`
}

func (ch TopologyChange) empty() bool {
	return ch.Mode == "" && ch.Order == nil && ch.Primary == "" && ch.SiteTables == nil
}

// SetTopology changes the replicated topology record: every cluster
// follows it within a second, without a restart. The change applies to
// the record as it is in the store (not to this node's view of it), and
// is retried if another change lands first, so two admins changing
// different parts at once both get theirs.
func (s *Service) SetTopology(ctx context.Context, ch TopologyChange) (*WriteReply, error) {
	if err := s.needAgent("changing the topology"); err != nil {
		return nil, err
	}
	if ch.empty() {
		return nil, &Error{Code: 400, Msg: "nothing to change: give --mode, --order, --primary or --site-tables (pbxtopo repl status shows the topology)"}
	}
	def := s.deps.Repl.Topology()
	return s.update(ctx, func(sn *store.Snapshot) ([]store.Mutation, error) {
		m, _, err := supersede(sn, replicator.TopologyTable, replicator.TopologyKey)
		if err != nil {
			return nil, err
		}
		t, err := replicator.ReadTopology(sn, def)
		if err != nil {
			return nil, err
		}
		if ch.Mode != "" {
			t.Mode = replicator.Mode(ch.Mode)
		}
		if ch.Order != nil {
			t.Order = ch.Order
		}
		if ch.Primary != "" {
			t.Primary = ch.Primary
		}
		if ch.SiteTables != nil {
			t.SiteTables = ch.SiteTables
		}
		if err := t.Validate(); err != nil {
			return nil, &Error{Code: 400, Msg: err.Error()}
		}
		if !ch.Force {
			if err := s.checkTopology(sn, ch, t); err != nil {
				return nil, err
			}
		}
		m.Value = t.Fields().AppendBinary(nil)
		return []store.Mutation{m}, nil
	})
}

// members returns the membership, or none offline.
func (s *Service) members() []replicator.Member {
	if s.deps.Members == nil {
		return nil
	}
	return s.deps.Members()
}

// liveClusters returns the clusters with a node alive in the membership
// whose certificate backs its claim, this one included.
func (s *Service) liveClusters() []string {
	live := []string{s.deps.Cluster}
	for _, m := range s.members() {
		c := m.Tags[replicator.TagCluster]
		verified := m.Certificate == "" || m.Certificate == replicator.CertVerified
		if m.Status == "alive" && verified && c != "" && !slices.Contains(live, c) {
			live = append(live, c)
		}
	}
	return live
}

// topologyPeers returns every other cluster of the enterprise: the
// clusters of the cluster table, the ring order and the membership, less
// the decommissioned ones.
func (s *Service) topologyPeers() ([]string, error) {
	var out []string
	err := s.st.View(func(sn *store.Snapshot) error {
		known, err := s.knownClusters(sn)
		for _, c := range known {
			if c != s.deps.Cluster {
				out = append(out, c)
			}
		}
		return err
	})
	return out, UserError(err)
}

// knownClusters returns the clusters of the enterprise, sorted: the
// replicator's list, or without one (an offline tool) this cluster and
// the cluster table less the decommissioned ones.
func (s *Service) knownClusters(sn *store.Snapshot) ([]string, error) {
	if s.deps.Repl != nil {
		return s.deps.Repl.Clusters(sn)
	}
	set := map[string]bool{}
	if s.deps.Cluster != "" {
		set[s.deps.Cluster] = true
	}
	sn.Scan("clusters", "", func(key string, _ []byte) error { set[key] = true; return nil })
	revoked, err := replicator.Revocations(sn)
	if err != nil {
		return nil, err
	}
	for c := range revoked {
		delete(set, c)
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// checkTopology refuses a topology change that is most likely a mistake,
// saying why and that --force makes it anyway.
func (s *Service) checkTopology(sn *store.Snapshot, ch TopologyChange, t replicator.Topology) error {
	refuse := func(format string, args ...any) error {
		return &Error{Code: 409, Msg: fmt.Sprintf(format, args...) + " (--force makes the change anyway)"}
	}
	known, err := s.knownClusters(sn)
	if err != nil {
		return err
	}
	revoked, err := replicator.Revocations(sn)
	if err != nil {
		return err
	}
	// name checks a cluster the change names; what says where, as
	// "--order names %s, which".
	name := func(what, c string) error {
		subject := fmt.Sprintf(what, c)
		if _, gone := revoked[c]; gone {
			return refuse("%s was decommissioned: it takes no part in replication any more", subject)
		}
		if !slices.Contains(known, c) {
			return refuse("%s is no cluster: the clusters are %s (describe a new cluster first: pbxtopo import clusters.csv)",
				subject, strings.Join(known, ", "))
		}
		return nil
	}
	for _, c := range ch.Order {
		if err := name("--order names %s, which", c); err != nil {
			return err
		}
	}
	if ch.Primary != "" {
		if err := name("the primary %s", ch.Primary); err != nil {
			return err
		}
		if t.Mode != replicator.Primary {
			return refuse("the topology is in %s mode, where no cluster is primary: a primary matters only in primary mode "+
				"(pbxtopo repl topology --mode primary --primary %s)", t.Mode, ch.Primary)
		}
	}
	if t.Mode == replicator.Ring && (ch.Order != nil || ch.Mode != "") {
		var left []string
		for _, c := range s.liveClusters() {
			if !slices.Contains(t.Order, c) {
				left = append(left, c)
			}
		}
		sort.Strings(left)
		if len(t.Order) == 0 {
			return refuse("ring mode needs an order: give --order with every cluster (%s)", strings.Join(known, ","))
		}
		if len(left) > 0 {
			return refuse("the ring order %s leaves out %s, alive now: no cluster would pull from it, so its changes would reach "+
				"nobody; add it to --order", strings.Join(t.Order, ","), strings.Join(left, ", "))
		}
	}
	return nil
}
