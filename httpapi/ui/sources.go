package ui

import (
	"context"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
)

// Data is what the pages read and write through the agent's Service (or
// an HTTP Client of another agent's API).
type Data interface {
	List(ctx context.Context, table string, q service.Query) (*service.Page, error)
	Conflicts(ctx context.Context) ([]service.ConflictView, error)
	Conflict(ctx context.Context, ref string) (*service.ConflictView, error)
	Resolve(ctx context.Context, ref string, req service.ResolveRequest) (*service.WriteReply, error)
	ReplStatus(ctx context.Context) (*service.ReplStatus, error)
	Members(ctx context.Context) ([]replicator.Member, error)
}

var (
	_ Data = (*service.Service)(nil)
	_ Data = (*httpapi.Client)(nil)
)

// Health is how a service or a cluster is doing.
type Health string

// Health values; "" means unknown.
const (
	Up       Health = "up"
	Degraded Health = "degraded" // works, but not as configured (HA fail-over, lag)
	Down     Health = "down"
)

// ServiceSource tells whether each cluster's voice and web services
// answer (guide §2.0.1): the health view of the DNS server (Serf plus SIP
// OPTIONS probes of the voice VIP) or the HA monitor.
type ServiceSource interface {
	ServiceAvailability(ctx context.Context) ([]ServiceHealth, error)
}

// ServiceHealth is one cluster's services.
type ServiceHealth struct {
	Cluster     string
	Voice       Health // Degraded: the VIP answers from the secondary server (fail-over)
	VoiceServer string // the server that holds the voice VIP now
	Web         Health
	WebServer   string
	Detail      string // shown on hover, e.g. the last probe's error
}

// DNSSource tells what the DNS server does with each cluster: whether its
// voice VIP is in the SRV answers phones get.
type DNSSource interface {
	DNSStatus(ctx context.Context) ([]DNSCluster, error)
}

// DNSCluster is one cluster as the DNS server serves it.
type DNSCluster struct {
	Cluster string
	State   Health // Up: in the answers; Degraded: answered but unhealthy; Down: dropped
	Detail  string
}

// RoamingSource is the roaming report of guide §3.0.6 (package roaming).
type RoamingSource interface {
	RoamingReport(ctx context.Context, f RoamingFilter) (*RoamingReport, error)
}

// RoamingFilter selects report rows; empty fields match everything.
type RoamingFilter struct {
	Group, Cluster, Site string
}

// RoamingReport is the report: one row per number per cluster, and the
// findings about them.
type RoamingReport struct {
	Rows     []RoamingRow
	Findings []RoamingFinding
}

// RoamingRow is one number on one cluster.
type RoamingRow struct {
	Extension, Cluster, Site, Group, Name string
	Roaming                               bool
	Mailbox                               string
	// Voicemail is where the number's voicemail lives seen from this row:
	// home, duplicate, elsewhere, local or none.
	Voicemail   string
	HomeCluster string
}

// RoamingFinding is one thing wrong (or worth knowing) about roaming
// numbers.
type RoamingFinding struct {
	ID       string
	Rule     string
	Title    string // e.g. "duplicate voicemail"
	Severity string // info, warning or critical
	Summary  string
	Fix      string
	Records  []string // table/key of the records involved, e.g. extensions/tpa2/5200
	Acked    bool     // acknowledged: shown, but not alerting
}

// AgentStatusSource is what the AMI status collector observes of
// extensions: the status fields of guide §4.0.4 (extstatus, agentstatus,
// queue, vmunread, vmold, callsdin, callsqin, callsout, ipaddr...).
type AgentStatusSource interface {
	// ExtensionStatus returns the status of the given extensions
	// (cluster/number keys); unknown keys are left out.
	ExtensionStatus(ctx context.Context, keys []string) (map[string]pbx.Fields, error)
}
