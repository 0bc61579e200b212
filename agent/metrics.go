package agent

import (
	"context"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the agent's Prometheus metrics, on a registry of its own
// (no global state): what is read at scrape time comes from the live
// parts; what is counted is counted where it happens (the HTTP API's
// requests by httpapi.Metrics, on this registry).
type Metrics struct {
	reg    *prometheus.Registry
	commit prometheus.Histogram
}

// MetricSources are the live parts the scrape reads.
type MetricSources struct {
	Store   *store.Store
	Repl    *replicator.Replicator
	Raft    service.RaftView
	Members func() []replicator.Member
	// Findings returns the audit's alerting findings by severity (cached:
	// an audit of a large enterprise takes a while).
	Findings func() map[string]int
	// Certs lists the certificates in use, the one that ends first first.
	Certs func() []service.CertExpiry
}

// NewMetrics registers every metric on a new registry.
func NewMetrics(src MetricSources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pbxtopo_raft_commit_seconds",
		Help: "Time for a write to commit through Raft and apply to the store.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m.reg.MustRegister(m.commit, &collector{src: src})
	return m
}

// ObserveCommit records one write's Raft commit time.
func (m *Metrics) ObserveCommit(d time.Duration) { m.commit.Observe(d.Seconds()) }

// Registry returns the registry: the HTTP API adds its request metrics
// and serves it on /metrics; tests check every metric's help text.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Descriptions of the scraped metrics.
var (
	descApplied = prometheus.NewDesc("pbxtopo_repl_changes_applied_total",
		"Changes from a peer cluster applied here.", []string{"peer"}, nil)
	descSent = prometheus.NewDesc("pbxtopo_repl_changes_sent_total",
		"Changes this replica sent to a peer cluster that pulled them.", []string{"peer"}, nil)
	descBehind = prometheus.NewDesc("pbxtopo_repl_lag_changes",
		"Changes a peer has that this replica has not applied yet.", []string{"peer"}, nil)
	descBehindSec = prometheus.NewDesc("pbxtopo_repl_lag_seconds",
		"How long this replica has been behind a peer.", []string{"peer"}, nil)
	descConnected = prometheus.NewDesc("pbxtopo_repl_link_up",
		"Whether the last pull from a peer succeeded (1) or failed (0).", []string{"peer"}, nil)
	descConflicts = prometheus.NewDesc("pbxtopo_conflicts_open",
		"Records with concurrent versions waiting for an admin.", nil, nil)
	descStoreBytes = prometheus.NewDesc("pbxtopo_store_bytes",
		"Size of the store file.", nil, nil)
	descDiskFull = prometheus.NewDesc("pbxtopo_store_disk_full",
		"1 while the store refuses writes because its disk is full (less than store.min_free free); 0 otherwise.", nil, nil)
	descSkew = prometheus.NewDesc("pbxtopo_clock_skew_alarms_total",
		"Remote changes stamped further ahead of the local clock than allowed.", nil, nil)
	descRaft = prometheus.NewDesc("pbxtopo_raft_state",
		"This node's Raft state (1 for the state it is in).", []string{"state"}, nil)
	descMembers = prometheus.NewDesc("pbxtopo_members",
		"Nodes of the membership whose certificate was verified, by status.", []string{"status"}, nil)
	descFindings = prometheus.NewDesc("pbxtopo_audit_findings",
		"Audit findings that alert (not acknowledged), by severity.", []string{"severity"}, nil)
	descCertExpiry = prometheus.NewDesc("pbxtopo_tls_cert_expiry_seconds",
		"Seconds until the certificate of a use (node: tls.cert, ca: tls.ca, api: http_tls.cert) expires; the earliest when the CA file holds several. Negative once expired.", []string{"cert"}, nil)
)

type collector struct{ src MetricSources }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descApplied, descSent, descBehind, descBehindSec, descConnected, descConflicts,
		descStoreBytes, descDiskFull, descSkew, descRaft, descMembers, descFindings, descCertExpiry} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Repl != nil {
		for _, l := range c.src.Repl.Status() {
			ch <- prometheus.MustNewConstMetric(descApplied, prometheus.CounterValue, float64(l.Applied), l.Peer)
			ch <- prometheus.MustNewConstMetric(descBehind, prometheus.GaugeValue, float64(l.Behind), l.Peer)
			ch <- prometheus.MustNewConstMetric(descBehindSec, prometheus.GaugeValue, l.SecondsBehind, l.Peer)
			up := 0.0
			if l.Connected {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, up, l.Peer)
		}
		for peer, n := range c.src.Repl.Served() {
			ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(n), peer)
		}
	}
	if c.src.Store != nil {
		st := c.src.Store.Stats()
		ch <- prometheus.MustNewConstMetric(descStoreBytes, prometheus.GaugeValue, float64(st.FileBytes))
		ch <- prometheus.MustNewConstMetric(descDiskFull, prometheus.GaugeValue, map[bool]float64{true: 1}[st.DiskFull])
		ch <- prometheus.MustNewConstMetric(descSkew, prometheus.CounterValue, float64(st.SkewAlarm))
		ch <- prometheus.MustNewConstMetric(descConflicts, prometheus.GaugeValue, float64(st.Conflicts))
	}
	if c.src.Raft != nil {
		now := c.src.Raft.State()
		for _, s := range []string{"leader", "follower", "candidate", "shutdown"} {
			v := 0.0
			if s == now {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descRaft, prometheus.GaugeValue, v, s)
		}
	}
	if c.src.Members != nil {
		by := map[string]int{}
		for _, m := range c.src.Members() {
			by[m.Status]++
		}
		for s, n := range by {
			ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(n), s)
		}
	}
	if c.src.Findings != nil {
		for sev, n := range c.src.Findings() {
			ch <- prometheus.MustNewConstMetric(descFindings, prometheus.GaugeValue, float64(n), sev)
		}
	}
	if c.src.Certs != nil {
		seen := map[string]bool{}
		for _, cert := range c.src.Certs() { // the one that ends first first
			if !seen[cert.Use] {
				seen[cert.Use] = true
				ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, time.Until(cert.NotAfter).Seconds(), cert.Use)
			}
		}
	}
}

// findingsCache runs the audit at most once a minute for the metrics.
type findingsCache struct {
	svc  *service.Service
	mu   sync.Mutex
	at   time.Time
	last map[string]int
}

func (f *findingsCache) get() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.at) < time.Minute && f.last != nil {
		return f.last
	}
	f.at = time.Now()
	res, err := f.svc.Audit(context.Background(), service.AuditQuery{})
	if err != nil {
		return f.last
	}
	out := map[string]int{"info": 0, "warning": 0, "critical": 0}
	for i := range res.Findings {
		if res.Findings[i].Alerting() {
			out[res.Findings[i].Severity.String()]++
		}
	}
	f.last = out
	return out
}
