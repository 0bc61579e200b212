package agent

import (
	"encoding/json"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/replicator/mysql"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descDNSQueries = prometheus.NewDesc("pbxtopo_dns_queries_total",
		"DNS queries answered, by transport.", []string{"transport"}, nil)
	descDNSTypes = prometheus.NewDesc("pbxtopo_dns_queries_by_type_total",
		"DNS queries by query type (SRV, A, AAAA, NAPTR, NS, SOA, ANY, AXFR, IXFR, other).", []string{"type"}, nil)
	descDNSResults = prometheus.NewDesc("pbxtopo_dns_results_total",
		"DNS answers by result (answer, nodata, nxdomain, refused, formerr, notimp, truncated, dropped).", []string{"result"}, nil)
	descClusterUp = prometheus.NewDesc("pbxtopo_cluster_up",
		"Whether DNS and DUNDi count a cluster as able to take calls (membership, Asterisk status, SIP probe).", []string{"cluster"}, nil)
	descHold = prometheus.NewDesc("pbxtopo_dns_hold_down",
		"1 while this node holds its last good view of cluster health (it lost more than half of the clusters at once).", nil, nil)
	descDUNDi = prometheus.NewDesc("pbxtopo_dundi_events_total",
		"DUNDi peer counters: packets received and sent, retransmits, drops by reason, refusals, answers, lookups, timeouts.", []string{"event"}, nil)
	descAMI = prometheus.NewDesc("pbxtopo_ami_total",
		"AMI collector counters: events applied and ignored, refreshes, flushes, status entries and bytes written.", []string{"counter"}, nil)
	descMySQLRows = prometheus.NewDesc("pbxtopo_mysql_rows_total",
		"Rows the MySQL bridge moved: in (binlog into the store), out (SQL written), echo (its own rows skipped).", []string{"direction"}, nil)
	descMySQLLag = prometheus.NewDesc("pbxtopo_mysql_lag_seconds",
		"How far the MySQL bridge's binlog reader is behind the server.", nil, nil)
	descMySQLReconnects = prometheus.NewDesc("pbxtopo_mysql_reconnects_total",
		"MySQL bridge failures retried.", nil, nil)
	descMySQLParked = prometheus.NewDesc("pbxtopo_mysql_parked_rows",
		"Rows the MySQL bridge parked: in (MySQL rows the store did not take), out (records MySQL did not take).", []string{"side"}, nil)
)

// partsCollector scrapes the optional parts and the DNS server.
type partsCollector struct {
	dns     *srv.Server
	checker *srv.Checker
	dundi   *dundi.Peer
	ami     *ami.Collector
	bridge  *mysql.Bridge
}

func (c *partsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDNSQueries, descDNSTypes, descDNSResults, descClusterUp, descHold, descDUNDi, descAMI,
		descMySQLRows, descMySQLLag, descMySQLReconnects, descMySQLParked} {
		ch <- d
	}
}

func (c *partsCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if c.dns != nil {
		st := c.dns.Stats()
		counter(descDNSQueries, st.UDPQueries, "udp")
		counter(descDNSQueries, st.TCPQueries, "tcp")
		for result, n := range st.Results {
			counter(descDNSResults, n, result)
		}
		for qtype, n := range st.Types {
			counter(descDNSTypes, n, qtype)
		}
	}
	if c.checker != nil {
		for _, h := range c.checker.Status() {
			v := 0.0
			if h.Up {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descClusterUp, prometheus.GaugeValue, v, h.Cluster)
		}
		held := 0.0
		if c.checker.Hold().Active() {
			held = 1
		}
		ch <- prometheus.MustNewConstMetric(descHold, prometheus.GaugeValue, held)
	}
	if c.dundi != nil {
		for name, v := range counters(c.dundi.Stats()) {
			if name != "transactions" {
				counter(descDUNDi, v, name)
			}
		}
	}
	if c.ami != nil {
		for name, v := range counters(c.ami.Stats()) {
			counter(descAMI, v, name)
		}
	}
	if c.bridge != nil {
		st := c.bridge.Status()
		counter(descMySQLRows, st.RowsIn, "in")
		counter(descMySQLRows, st.RowsOut, "out")
		counter(descMySQLRows, st.EchoRows, "echo")
		counter(descMySQLReconnects, st.Reconnects)
		ch <- prometheus.MustNewConstMetric(descMySQLLag, prometheus.GaugeValue, st.LagSeconds)
		parked := map[string]float64{mysql.ParkedIn: 0, mysql.ParkedOut: 0}
		for _, p := range st.Parked {
			parked[p.Side]++
		}
		for side, n := range parked {
			ch <- prometheus.MustNewConstMetric(descMySQLParked, prometheus.GaugeValue, n, side)
		}
	}
}

// counters turns a struct of counters into name → value by its JSON
// names, so a counter added to a part's Stats shows without a change here.
func counters(stats any) map[string]uint64 {
	b, _ := json.Marshal(stats)
	var m map[string]uint64
	json.Unmarshal(b, &m)
	return m
}
