package replicator

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/pbxtopo/pbxtopo/internal/logbridge"
)

// Serf tag names: what every node tells the others about itself.
const (
	TagCluster = "cluster"
	TagSite    = "site"
	TagRole    = "role" // "voice" (an agent beside Asterisk) or "witness"
	TagRepl    = "repl" // replication address
	TagHTTP    = "http" // API address
	TagDNS     = "dns"  // DNS address
	TagRaft    = "raft" // Raft address
	// TagRaftState is the node's Raft state: leader, follower, candidate.
	TagRaftState = "raft_state"
	// TagStopping is set to "restart" by a node that stops cleanly: it
	// will be back, so the others count it as restarting for their
	// RestartGrace instead of down (see Stop).
	TagStopping = "stopping"
	// TagAsterisk is what a node's AMI client says of its Asterisk: "up",
	// "down", or absent when it has no AMI or does not know yet.
	TagAsterisk = "asterisk"
)

// StatusRestarting is the status of a member that stopped for a restart
// less than RestartGrace ago.
const StatusRestarting = "restarting"

// SerfConfig configures membership.
type SerfConfig struct {
	Node      string
	BindAddr  string // host:port for gossip (TCP and UDP)
	Advertise string // host:port others reach; BindAddr when empty
	Tags      map[string]string
	// GossipKey encrypts gossip (32 bytes, base64 in the config file).
	GossipKey []byte
	// KeyringFile keeps installed gossip keys across restarts (rotation).
	KeyringFile string
	// ProbeInterval and SuspicionMult trade detection speed against false
	// alarms: a dead node is declared failed after about
	// SuspicionMult × ProbeInterval (×log10 of the member count, at least 1).
	ProbeInterval time.Duration
	SuspicionMult int
	// SnapshotPath keeps the members this node knew and serf's clocks
	// across restarts: a restarted node rejoins them by itself, join list
	// or not. Empty: no snapshot.
	SnapshotPath string
	// RestartGrace is how long a member that stopped cleanly (Stop) counts
	// as restarting, and its cluster as up, before it counts as down.
	RestartGrace time.Duration
	Logger       *slog.Logger
}

// Serf is membership over hashicorp/serf: which nodes of which clusters
// are alive, with their addresses from their tags.
type Serf struct {
	s      *serf.Serf
	events chan serf.Event
	log    *slog.Logger
	grace  time.Duration

	mu      sync.Mutex
	changed chan struct{}
	gone    map[string]time.Time // member → when it failed or left (as seen here)
	done    chan struct{}
}

var _ Membership = (*Serf)(nil)

// NewSerf starts gossiping on cfg.BindAddr.
func NewSerf(cfg SerfConfig) (*Serf, error) {
	host, portStr, err := net.SplitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("serf_addr %q: %w", cfg.BindAddr, err)
	}
	port, _ := strconv.Atoi(portStr)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sc := serf.DefaultConfig()
	sc.Init()
	sc.NodeName = cfg.Node
	sc.Tags = cfg.Tags
	sc.KeyringFile = cfg.KeyringFile
	sc.ReconnectTimeout = 24 * time.Hour
	sc.TombstoneTimeout = 24 * time.Hour
	// A stopped member is failed, not left (see Stop): try to reach one
	// every few seconds, so that a restarted node is found again even
	// when it knows nobody.
	sc.ReconnectInterval = 5 * time.Second
	sc.SnapshotPath = cfg.SnapshotPath
	sc.RejoinAfterLeave = true // a leave recorded by an older version is no departure either
	ml := memberlist.DefaultLANConfig()
	ml.Name = cfg.Node
	ml.BindAddr, ml.BindPort = host, port
	if cfg.Advertise != "" {
		ah, ap, err := net.SplitHostPort(cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise address %q: %w", cfg.Advertise, err)
		}
		ml.AdvertiseAddr = ah
		ml.AdvertisePort, _ = strconv.Atoi(ap)
	}
	if cfg.ProbeInterval > 0 {
		ml.ProbeInterval = cfg.ProbeInterval
		ml.ProbeTimeout = cfg.ProbeInterval / 2
	}
	if cfg.SuspicionMult > 0 {
		ml.SuspicionMult = cfg.SuspicionMult
	}
	// A stopped node is failed, not left: let it come back at another
	// address (a new serf_addr) once it has been failed for a moment.
	ml.DeadNodeReclaimTime = time.Second
	if len(cfg.GossipKey) > 0 {
		kr, err := memberlist.NewKeyring(nil, cfg.GossipKey)
		if err != nil {
			return nil, fmt.Errorf("gossip.key: %w (want 32 random bytes, base64: make one with 'pbxtopo gossip keygen')", err)
		}
		ml.Keyring = kr
	}
	logger := log.New(logbridge.Writer(cfg.Logger, "gossip"), "", 0)
	sc.Logger, ml.Logger = logger, logger
	sc.MemberlistConfig = ml
	m := &Serf{events: make(chan serf.Event, 256), log: cfg.Logger, grace: cfg.RestartGrace, changed: make(chan struct{}),
		gone: map[string]time.Time{}, done: make(chan struct{})}
	sc.EventCh = m.events
	if m.s, err = serf.Create(sc); err != nil {
		return nil, fmt.Errorf("gossip on %s: %w", cfg.BindAddr, err)
	}
	go m.loop()
	return m, nil
}

// loop turns member events into change notifications. It never blocks
// serf: the channel is read at once and the notification is a close.
func (m *Serf) loop() {
	for {
		select {
		case e := <-m.events:
			if me, ok := e.(serf.MemberEvent); ok {
				for _, mem := range me.Members {
					m.log.Info("member "+strings.TrimPrefix(me.Type.String(), "member-"), "node", mem.Name, "cluster", mem.Tags[TagCluster], "addr", net.JoinHostPort(mem.Addr.String(), strconv.Itoa(int(mem.Port))))
				}
				m.track(me)
				m.notify()
			}
		case <-m.s.ShutdownCh():
			close(m.done)
			return
		}
	}
}

// track remembers when members went away, for RestartGrace.
func (m *Serf) track(e serf.MemberEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mem := range e.Members {
		switch e.Type {
		case serf.EventMemberFailed, serf.EventMemberLeave:
			m.gone[mem.Name] = time.Now()
		case serf.EventMemberJoin, serf.EventMemberReap:
			delete(m.gone, mem.Name)
		}
	}
	if e.Type == serf.EventMemberFailed || e.Type == serf.EventMemberLeave {
		// When the grace ends, Up changes: say so then.
		time.AfterFunc(m.grace, m.notify)
	}
}

// restarting reports whether a member that is not alive stopped for a
// restart less than RestartGrace ago.
func (m *Serf) restarting(mem serf.Member) bool {
	if mem.Tags[TagStopping] != "restart" {
		return false
	}
	m.mu.Lock()
	since, ok := m.gone[mem.Name]
	m.mu.Unlock()
	return ok && time.Since(since) < m.grace
}

func (m *Serf) notify() {
	m.mu.Lock()
	defer m.mu.Unlock()
	close(m.changed)
	m.changed = make(chan struct{})
}

// Changed implements Membership.
func (m *Serf) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Join contacts existing members (host:port of their gossip addresses).
func (m *Serf) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	return m.s.Join(addrs, true)
}

// JoinUntil keeps trying to join until one contact answers or ctx ends.
func (m *Serf) JoinUntil(ctx context.Context, addrs []string) {
	for delay := 200 * time.Millisecond; ctx.Err() == nil; delay = min(delay*2, 10*time.Second) {
		if n, err := m.Join(addrs); err == nil && n > 0 || len(addrs) == 0 {
			return
		} else if err != nil {
			m.log.Debug("join", "err", err)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
}

// Member is one node as membership sees it.
type Member struct {
	Node   string            `json:"node"`
	Addr   string            `json:"gossip_addr"`
	Status string            `json:"status"`
	Tags   map[string]string `json:"tags"`
	// Certificate is whether the member's certificate backs its claim:
	// "verified", or why not (set by Verified; empty from gossip alone).
	Certificate string `json:"certificate,omitempty"`
}

// Members returns every node known, sorted by cluster then node. A member
// that stopped for a restart less than RestartGrace ago has the status
// "restarting".
func (m *Serf) Members() []Member {
	var out []Member
	for _, mem := range m.s.Members() {
		status := mem.Status.String()
		if mem.Status != serf.StatusAlive && m.restarting(mem) {
			status = StatusRestarting
		}
		out = append(out, Member{Node: mem.Name, Addr: net.JoinHostPort(mem.Addr.String(), strconv.Itoa(int(mem.Port))),
			Status: status, Tags: mem.Tags})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tags[TagCluster] != out[j].Tags[TagCluster] {
			return out[i].Tags[TagCluster] < out[j].Tags[TagCluster]
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// Clusters implements Membership: a cluster is alive when one of its
// nodes is; its addresses are those of its live nodes.
func (m *Serf) Clusters() []ClusterView {
	return ClustersOf(m.Members())
}

// ClustersOf aggregates members by cluster.
func ClustersOf(members []Member) []ClusterView {
	by := map[string]*ClusterView{}
	var names []string
	for _, mem := range members {
		c := mem.Tags[TagCluster]
		if c == "" || mem.Tags[TagRole] == "witness" {
			continue
		}
		v, ok := by[c]
		if !ok {
			v = &ClusterView{Name: c, Site: mem.Tags[TagSite]}
			by[c] = v
			names = append(names, c)
		}
		if mem.Status == "alive" {
			v.Alive = true
			if a := mem.Tags[TagRepl]; a != "" {
				v.Addrs = append(v.Addrs, a)
			}
		}
	}
	sort.Strings(names)
	out := make([]ClusterView, 0, len(names))
	for _, n := range names {
		v := by[n]
		slices.Sort(v.Addrs)
		out = append(out, *v)
	}
	return out
}

// LocalTags returns a copy of this node's tags.
func (m *Serf) LocalTags() map[string]string {
	out := map[string]string{}
	for k, v := range m.s.LocalMember().Tags {
		out[k] = v
	}
	return out
}

// Up reports whether some voice node of a cluster is alive or restarting
// (the DNS and DUNDi health views ask it): a restart is not a departure.
func (m *Serf) Up(cluster string) bool {
	for _, mem := range m.Members() {
		if mem.Tags[TagCluster] == cluster && mem.Tags[TagRole] != "witness" &&
			(mem.Status == "alive" || mem.Status == StatusRestarting) {
			return true
		}
	}
	return false
}

// SetTags replaces this node's tags (e.g. its Raft role).
func (m *Serf) SetTags(tags map[string]string) error { return m.s.SetTags(tags) }

// Keys lists the gossip keys installed on the members, with how many use each.
func (m *Serf) Keys() (map[string]int, error) {
	resp, err := keyQuery(m.s.KeyManager().ListKeys)
	if err != nil {
		return nil, err
	}
	return resp.Keys, nil
}

// InstallKey, UseKey and RemoveKey rotate the gossip key across the
// enterprise (see docs/security.md): install the new key everywhere, switch to
// it, then remove the old one.
func (m *Serf) InstallKey(key string) error {
	_, err := keyQuery(func() (*serf.KeyResponse, error) { return m.s.KeyManager().InstallKey(key) })
	return err
}

// UseKey makes key the one used to encrypt.
func (m *Serf) UseKey(key string) error {
	_, err := keyQuery(func() (*serf.KeyResponse, error) { return m.s.KeyManager().UseKey(key) })
	return err
}

// RemoveKey removes a key no longer used.
func (m *Serf) RemoveKey(key string) error {
	_, err := keyQuery(func() (*serf.KeyResponse, error) { return m.s.KeyManager().RemoveKey(key) })
	return err
}

// keyQuery runs a keyring query until every member has answered it, at
// most three times: each is idempotent, and on a loaded machine a
// member's answer can miss the query's deadline ("4/5 nodes reported
// success") although it did what was asked.
func keyQuery(query func() (*serf.KeyResponse, error)) (*serf.KeyResponse, error) {
	var resp *serf.KeyResponse
	var err error
	for range 3 {
		if resp, err = query(); err == nil {
			break
		}
	}
	return resp, err
}

// Stop tells the others that this node stops for a restart, then stops
// gossiping without leaving: they see it fail, and count it as restarting
// for their RestartGrace; its snapshot makes it rejoin them when it starts
// again. A restart is not a departure.
func (m *Serf) Stop() error {
	tags := m.LocalTags()
	tags[TagStopping] = "restart"
	err := m.s.SetTags(tags) // returns once the others were told
	return errors.Join(err, m.Close())
}

// Leave tells the others this node leaves for good, then stops: they
// drop it at once and never try to reach it again.
func (m *Serf) Leave() error {
	if err := m.s.Leave(); err != nil {
		return err
	}
	return m.Close()
}

// Close stops gossiping. Safe to call twice.
func (m *Serf) Close() error {
	err := m.s.Shutdown()
	<-m.done
	return err
}

// DecodeGossipKey parses a base64 gossip key.
func DecodeGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("gossip.key is not base64: %w", err)
	}
	if len(k) != 16 && len(k) != 24 && len(k) != 32 {
		return nil, fmt.Errorf("gossip.key is %d bytes; use 32 (make one with 'pbxtopo gossip keygen')", len(k))
	}
	return k, nil
}
