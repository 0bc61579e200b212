package agent

import (
	"context"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/srv"
)

// What each agent says of its Asterisk travels as a gossip tag
// (replicator.TagAsterisk): every agent's health checker hears of an
// Asterisk that stopped answering AMI within a second or two, where the
// status the collectors write replicates every few seconds.

// asteriskDownAfter is how long AMI must stay down before the tag says
// so: a reconnection (a manager reload) is not a dead Asterisk.
const asteriskDownAfter = 500 * time.Millisecond

// asteriskView implements srv.AsteriskHealth from the members' tags: a
// cluster's Asterisk answers when one of its live or restarting agents
// says so.
type asteriskView struct {
	m interface {
		Members() []replicator.Member
		Changed() <-chan struct{}
	}
}

var _ srv.AsteriskHealth = asteriskView{}

func (v asteriskView) Asterisk(cluster string) (up, known bool) {
	for _, mem := range v.m.Members() {
		if mem.Tags[replicator.TagCluster] != cluster || mem.Status != "alive" && mem.Status != replicator.StatusRestarting {
			continue
		}
		switch mem.Tags[replicator.TagAsterisk] {
		case "up":
			return true, true
		case "down":
			known = true
		}
	}
	return false, known
}

func (v asteriskView) Changed() <-chan struct{} { return v.m.Changed() }

// asteriskTag is the tag value for an AMI client's state: up when
// Asterisk answers (even refusing the login), down when it has not for
// asteriskDownAfter, "" when unknown (connecting, stopped).
func asteriskTag(st ami.ConnState, now time.Time) string {
	switch st.State {
	case ami.StateConnected, ami.StateAuthFailed:
		return "up"
	case ami.StateDown:
		if now.Sub(st.Since) >= asteriskDownAfter {
			return "down"
		}
	}
	return ""
}

// reportAsterisk keeps this node's Asterisk tag current until ctx ends.
func (a *Agent) reportAsterisk(ctx context.Context, client *ami.Client) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := "unset"
	for {
		if v := asteriskTag(client.State(), time.Now()); v != last {
			if err := a.setTag(replicator.TagAsterisk, v); err != nil {
				a.log.Warn("cannot tell the members about this node's Asterisk", "err", err)
			} else {
				last = v
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setTag sets (or, with "", removes) one of this node's gossip tags.
func (a *Agent) setTag(key, value string) error {
	a.tagMu.Lock()
	defer a.tagMu.Unlock()
	tags := a.members.LocalTags()
	if value == "" {
		delete(tags, key)
	} else {
		tags[key] = value
	}
	return a.members.SetTags(tags)
}
