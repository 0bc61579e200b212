package srv

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// staticAsterisk is an AMI view set by hand: cluster → "up", "down", or
// absent (no agent of the cluster reports).
type staticAsterisk struct {
	mu      sync.Mutex
	state   map[string]string
	changed chan struct{}
}

func newStaticAsterisk() *staticAsterisk {
	return &staticAsterisk{state: map[string]string{}, changed: make(chan struct{})}
}

func (a *staticAsterisk) Asterisk(cluster string) (up, known bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.state[cluster]
	return s == "up", ok
}

func (a *staticAsterisk) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

func (a *staticAsterisk) set(cluster, state string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if state == "" {
		delete(a.state, cluster)
	} else {
		a.state[cluster] = state
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

// silentVIP is a bound UDP port that never answers: an Asterisk that hangs
// or a host whose Asterisk died (no ICMP on loopback for a bound port).
func silentVIP(t *testing.T) int {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.LocalAddr().(*net.UDPAddr).Port
}

// TestHealthRule runs every combination of agent, AMI and probe through a
// real checker with a real probe: the VIP of "live" answers SIP OPTIONS,
// that of "dead" is silent. A live agent beside a dead Asterisk used to
// keep its cluster up.
func TestHealthRule(t *testing.T) {
	ua := startSipUA(t, 0)
	st := newStore(t)
	putClusters(t, st,
		pbx.Fields{"name": "live", "site": "s", "voice_vip": "127.0.0.1", "sip_port": strconv.Itoa(ua.port())},
		pbx.Fields{"name": "dead", "site": "s", "voice_vip": "127.0.0.1", "sip_port": strconv.Itoa(silentVIP(t))})
	cases := []struct {
		probe  bool
		vip    string // live (answers) or dead (silent)
		agent  bool
		ami    string // "", up, down
		wantUp bool
	}{
		// No probe: the agents decide, with AMI where it reports.
		{false, "dead", true, "", true},
		{false, "dead", false, "", false},
		{false, "dead", true, "up", true},
		{false, "dead", true, "down", false}, // a live agent beside a dead Asterisk
		{false, "dead", false, "up", false},
		// Probe: a VIP that answers is up, whatever the agents.
		{true, "live", false, "", true},
		{true, "live", false, "down", true},
		{true, "live", true, "down", true},
		// A silent VIP: up only with a live agent whose AMI says Asterisk answers.
		{true, "dead", true, "", false}, // a live agent beside a dead Asterisk
		{true, "dead", true, "down", false},
		{true, "dead", true, "up", true},
		{true, "dead", false, "up", false},
		{true, "dead", false, "", false},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("probe=%v vip=%s agent=%v ami=%q", tc.probe, tc.vip, tc.agent, tc.ami)
		t.Run(name, func(t *testing.T) {
			members := NewStaticHealth()
			members.Set(tc.vip, tc.agent)
			ast := newStaticAsterisk()
			if tc.ami != "" {
				ast.set(tc.vip, tc.ami)
			}
			cfg := CheckerConfig{}
			if tc.probe {
				cfg = fastProbe()
			}
			c := runChecker(t, cfg, CheckerDeps{Source: st, Members: members, Asterisk: ast})
			eventually(t, 2*time.Second, "the probe's verdict", func() bool {
				for _, h := range c.Status() {
					if h.Cluster == tc.vip {
						return !tc.probe || h.Probe != nil && *h.Probe == (tc.vip == "live")
					}
				}
				return false
			})
			// The verdict is published in the same round of the checker.
			eventually(t, time.Second, fmt.Sprintf("up = %v", tc.wantUp), func() bool { return c.Up(tc.vip) == tc.wantUp })
		})
	}
}
