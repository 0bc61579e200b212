package ami

import (
	"context"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// healthState is what the collector knows of its node beyond AMI.
type healthState struct {
	vip       string // host:port probed; "" none configured
	vipState  string // answering, silent, unprobed
	vipMs     int
	vipErr    string
	role      string // active (holds the VIP), standby, ""
	refreshed time.Time
	stopped   bool
	lastWrite time.Time
}

func (h *healthState) init() { h.vipState = "unprobed"; h.vipMs = -1 }

// clusterVIP returns "voice_vip:sip_port" of a cluster from the store.
func clusterVIP(sn *store.Snapshot, cluster string) string {
	f, ok, err := sn.GetFields("clusters", cluster)
	if err != nil || !ok || f["voice_vip"] == "" {
		return ""
	}
	port := f["sip_port"]
	if port == "" {
		port = "5060"
	}
	return net.JoinHostPort(f["voice_vip"], port)
}

func (c *Collector) probeLoop(ctx context.Context) {
	every := max(c.cfg.Heartbeat/3, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		c.ProbeVIP(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ProbeVIP probes the voice VIP once and updates the node's role.
func (c *Collector) ProbeVIP(ctx context.Context) {
	c.mu.Lock()
	vip := c.health.vip
	c.mu.Unlock()
	if vip == "" || c.cfg.VIP == "off" {
		return
	}
	host, _, _ := net.SplitHostPort(vip)
	role := "standby"
	if c.local(host) {
		role = "active"
	}
	rtt, err := c.probe(ctx, vip, c.cfg.ProbeTimeout)
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.health.role = role
	if err != nil {
		c.health.vipState, c.health.vipMs, c.health.vipErr = "silent", -1, err.Error()
		return
	}
	c.health.vipState, c.health.vipErr = "answering", ""
	// Rounded to 10 ms: a round trip that wobbles is not a change.
	c.health.vipMs = int(rtt.Round(10*time.Millisecond) / time.Millisecond)
}

// healthFields derives the health entry (with c.mu held).
func (c *Collector) healthFields() pbx.Fields {
	st := c.ami.State()
	f := pbx.Fields{"cluster": c.cfg.Cluster, "ami": st.State, "ami_error": st.Error, "ami_version": st.Version,
		"ami_since": strconv.FormatInt(st.Since.UnixMilli(), 10), "role": c.health.role,
		"vip": c.health.vip, "vip_state": c.health.vipState, "vip_error": c.health.vipErr}
	if c.health.vip == "" {
		f["vip_state"] = ""
	}
	if c.health.vipMs >= 0 {
		f["vip_ms"] = strconv.Itoa(c.health.vipMs)
	}
	if !c.health.refreshed.IsZero() {
		f["refreshed"] = strconv.FormatInt(c.health.refreshed.UnixMilli(), 10)
	}
	if c.health.stopped {
		f["ami"] = StateStopped
	}
	var up int
	var down []string
	if c.ix != nil {
		for name, cfg := range c.ix.trunks {
			t := c.trunks[name]
			if t != nil && t.fields(cfg)["state"] == "available" {
				up++
			} else {
				down = append(down, name)
			}
		}
		sort.Strings(down)
		reg := 0
		for ext := range c.ix.exts {
			if s := c.exts[ext]; s != nil && s.bestContact() != nil {
				reg++
			}
		}
		f["trunks_total"] = strconv.Itoa(len(c.ix.trunks))
		f["trunks_up"] = strconv.Itoa(up)
		f["trunks_down"] = strings.Join(down, ",")
		f["exts_total"] = strconv.Itoa(len(c.ix.exts))
		f["exts_registered"] = strconv.Itoa(reg)
	}
	return f.Compact()
}
