package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

// DNSFrom shows what the agent's DNS server does with each cluster.
func DNSFrom(api service.ZoneAPI) DNSSource { return zoneSource{api} }

// ServicesFrom shows each cluster's voice service as the agent's health
// view sees it (membership, SIP probe of the voice VIP, Asterisk status).
func ServicesFrom(api service.ZoneAPI) ServiceSource { return zoneSource{api} }

type zoneSource struct{ api service.ZoneAPI }

var errNoDNS = errors.New("this agent runs no DNS server")

func (z zoneSource) live(ctx context.Context) (*service.ZoneView, error) {
	v, err := z.api.Zone(ctx, "")
	if err != nil {
		return nil, err
	}
	if !v.Live {
		return nil, errNoDNS
	}
	return v, nil
}

func (z zoneSource) DNSStatus(ctx context.Context) ([]DNSCluster, error) {
	v, err := z.live(ctx)
	if err != nil {
		return nil, err
	}
	var out []DNSCluster
	for _, h := range v.Health {
		c := DNSCluster{Cluster: h.Cluster, State: Up, Detail: healthDetail(h.Members, h.Probe, h.Target, h.RTTMillis)}
		switch {
		case slices.Contains(v.Down, h.Cluster):
			c.State = Down
			c.Detail = "dropped from the SRV answers: " + c.Detail
		case !h.Up:
			c.State = Degraded // every cluster down: answers keep the full list
			c.Detail = "unhealthy but still answered (no cluster is up): " + c.Detail
		}
		out = append(out, c)
	}
	return out, nil
}

func (z zoneSource) ServiceAvailability(ctx context.Context) ([]ServiceHealth, error) {
	v, err := z.live(ctx)
	if err != nil {
		return nil, err
	}
	var out []ServiceHealth
	for _, h := range v.Health {
		s := ServiceHealth{Cluster: h.Cluster, Voice: Up, Detail: healthDetail(h.Members, h.Probe, h.Target, h.RTTMillis)}
		if !h.Up {
			s.Voice = Down
		}
		out = append(out, s)
	}
	return out, nil
}

func healthDetail(members, probe *bool, target string, rtt float64) string {
	var parts []string
	if members != nil {
		parts = append(parts, "membership "+upDown(*members))
	}
	if probe != nil {
		parts = append(parts, fmt.Sprintf("SIP probe of %s %s (%.1f ms)", target, upDown(*probe), rtt))
	}
	if len(parts) == 0 {
		return "no health source"
	}
	return strings.Join(parts, ", ")
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// AgentsFrom shows the status the AMI collectors report of extensions.
func AgentsFrom(api service.StatusAPI) AgentStatusSource { return statusSource{api} }

type statusSource struct{ api service.StatusAPI }

func (s statusSource) ExtensionStatus(ctx context.Context, keys []string) (map[string]pbx.Fields, error) {
	want := map[string]bool{}
	clusters := map[string]bool{}
	for _, k := range keys {
		want[k] = true
		if c, _, ok := strings.Cut(k, "/"); ok {
			clusters[c] = true
		}
	}
	out := map[string]pbx.Fields{}
	for c := range clusters {
		rows, err := s.api.ExtensionStatus(ctx, c)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if k := c + "/" + r["regexten"]; want[k] {
				out[k] = r
			}
		}
	}
	return out, nil
}
