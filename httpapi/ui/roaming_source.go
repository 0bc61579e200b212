package ui

import (
	"context"

	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
)

// RoamingFrom adapts the agent's roaming report to the pages.
func RoamingFrom(api service.RoamingAPI) RoamingSource { return roamingAdapter{api} }

type roamingAdapter struct{ api service.RoamingAPI }

func (a roamingAdapter) RoamingReport(ctx context.Context, f RoamingFilter) (*RoamingReport, error) {
	rep, err := a.api.Roaming(ctx, roaming.Filter{Group: f.Group, Cluster: f.Cluster, Site: f.Site})
	if err != nil {
		return nil, err
	}
	titles := map[string]string{}
	for _, r := range roaming.Rules {
		titles[r.ID] = r.Title
	}
	out := &RoamingReport{}
	for _, r := range rep.Rows {
		out.Rows = append(out.Rows, RoamingRow{Extension: r.Extension, Cluster: r.Cluster, Site: r.Site, Group: r.Group,
			Name: r.Name, Roaming: r.Roaming, Mailbox: r.Mailbox, Voicemail: r.Voicemail, HomeCluster: r.HomeCluster})
	}
	for _, f := range rep.Findings {
		out.Findings = append(out.Findings, RoamingFinding{ID: f.ID, Rule: f.Rule, Title: titles[f.Rule], Severity: f.Severity.String(),
			Summary: f.Summary, Fix: f.Fix, Records: f.Records, Acked: f.Ack != nil})
	}
	return out, nil
}
