package ui

import (
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// ServiceRow is one line of the service availability table (guide
// §2.0.1).
type ServiceRow struct {
	Cluster, Site     string
	VoiceVIP, WebVIP  string
	VoiceServer       string
	WebServer         string
	VoiceStatus       Cell
	WebStatus         Cell
	ServersConfigured bool // no live report: the servers shown are the configured ones
}

// serviceRows joins the clusters table with the live service health.
func serviceRows(clusters []pbx.Fields, hs []ServiceHealth, err error) []ServiceRow {
	by := map[string]ServiceHealth{}
	for _, h := range hs {
		by[h.Cluster] = h
	}
	rows := make([]ServiceRow, 0, len(clusters))
	for _, c := range clusters {
		r := ServiceRow{Cluster: c["name"], Site: c["site"], VoiceVIP: c["voice_vip"], WebVIP: c["web_vip"],
			VoiceServer: first(c["voice_servers"]), WebServer: first(c["web_servers"])}
		h, ok := by[r.Cluster]
		switch {
		case err != nil:
			r.VoiceStatus, r.WebStatus = noData(err.Error()), noData(err.Error())
			r.ServersConfigured = true
		case !ok:
			r.VoiceStatus, r.WebStatus = noData("no health report for this cluster"), noData("")
			r.ServersConfigured = true
		default:
			r.VoiceStatus = healthCell(h.Voice, "VOICE OK", "VOICE FAIL OVER", "VOICE DOWN")
			r.WebStatus = healthCell(h.Web, "WEB OK", "WEB FAIL OVER", "WEB DOWN")
			r.VoiceStatus.Detail = h.Detail
			if h.VoiceServer != "" {
				r.VoiceServer = h.VoiceServer
			}
			if h.WebServer != "" {
				r.WebServer = h.WebServer
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// first returns the first item of a comma-separated list.
func first(list string) string {
	s, _, _ := strings.Cut(list, ",")
	return strings.TrimSpace(s)
}
