package service

import (
	"context"
	"sort"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// Replication is what the service needs of the running replication.
type Replication interface {
	Status() []replicator.LinkStatus
	Topology() replicator.Topology
	CheckWrite(table string) error
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
	// Audit records actions the store's history does not (auditlog.go).
	Audit *AuditLog
	// Certs lists the certificates the agent uses (certs.go).
	Certs func() []CertExpiry
	// Published is the latest publish of this node's generated config
	// (nil: it publishes none).
	Published func() *ami.PublishReport
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
	Cluster  string                  `json:"cluster"`
	Mode     replicator.Mode         `json:"mode"`
	Order    []string                `json:"order,omitempty"`
	Primary  string                  `json:"primary,omitempty"`
	Links    []replicator.LinkStatus `json:"links"`
	Changes  uint64                  `json:"changes_applied_here"`
	SkewSeen uint64                  `json:"clock_skew_alarms"`
	// StatusLinks: live status pulled from each source (replicator/status.go).
	StatusLinks []replicator.StatusLinkStats `json:"status_links,omitempty"`
	DiskFull    bool                         `json:"disk_full,omitempty"` // the store refuses writes: its disk is full
}

// ReplStatus returns the state of every replication link.
func (s *Service) ReplStatus(ctx context.Context) (*ReplStatus, error) {
	if err := s.needAgent("repl status"); err != nil {
		return nil, err
	}
	t := s.deps.Repl.Topology()
	out := &ReplStatus{Cluster: s.deps.Cluster, Mode: t.Mode, Order: t.Order, Primary: t.Primary, Links: s.deps.Repl.Status()}
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
		row := CompareDigests(mine, p)
		if row.State != "same" {
			rep.AllSame = false
		}
		rep.Rows = append(rep.Rows, row)
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
		m.Value = t.Fields().AppendBinary(nil)
		return []store.Mutation{m}, nil
	})
}
