package dundi

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config is the DUNDi peer's configuration: the `dundi.*` keys of the
// agent's config file. Every field is documented in docs/configuration.md.
type Config struct {
	// Addr is the UDP address to listen on [127.0.0.1:4520].
	Addr string `mapstructure:"addr"`
	// EID is this agent's entity id, as its peers list it ([02:00:00:00:00:0a] in dundi.conf).
	EID string `mapstructure:"eid"`
	// PrivateKey is this agent's .key file (1024-bit RSA), needed for
	// every peer that has a public_key.
	PrivateKey string `mapstructure:"private_key"`
	// TTL is the hop count of our queries [32].
	TTL int `mapstructure:"ttl"`
	// Expiration is how many seconds peers may cache our answers [30]:
	// short, so a move or a failure is seen quickly.
	Expiration int `mapstructure:"expiration"`
	// Secret is what ${SECRET} expands to in mapping destinations.
	Secret string `mapstructure:"secret"`
	// RetransTimer is the wait before a packet is sent again [1s]; a
	// packet is sent at most Retransmits+1 times.
	RetransTimer time.Duration `mapstructure:"retrans_timer"`
	// Retransmits is how often an unacknowledged packet is resent [4].
	Retransmits int `mapstructure:"retransmits"`
	// KeyTTL is the life of a session key before a new one is made [1h].
	KeyTTL time.Duration `mapstructure:"key_ttl"`
	// AckDelay is how long an answer may take before a bare ACK is sent
	// first [20ms]; a quicker answer carries the acknowledgement itself.
	AckDelay time.Duration `mapstructure:"ack_delay"`
	// ReplayWindow is how long the first packets of finished transactions
	// are remembered to drop replays [10s].
	ReplayWindow time.Duration `mapstructure:"replay_window"`
	// MaxLookups bounds the queries answered at once [1024]; more get
	// cause GENERAL.
	MaxLookups int `mapstructure:"max_lookups"`
	// Entity is what EIDQUERY for our EID returns.
	Entity EntityInfo `mapstructure:"entity"`
	// Mappings say how a DUNDi context's answers are built.
	Mappings []MappingConfig `mapstructure:"mappings"`
	// Peers are the DUNDi peers (Asterisk servers, other agents).
	Peers []PeerConfig `mapstructure:"peers"`
}

// MappingConfig maps a DUNDi context to destinations: one answer per
// live cluster that holds the number.
type MappingConfig struct {
	// Context is the DUNDi context, e.g. priv or e164.
	Context string `mapstructure:"context"`
	// Tech is IAX2, SIP, PJSIP or H323.
	Tech string `mapstructure:"tech"`
	// Destination is the template of the destination, with ${NUMBER},
	// ${IPADDR} (the cluster's voice VIP), ${SECRET}, ${EID} (the
	// cluster's entity id) and ${CLUSTER}: e.g. priv:${SECRET}@${IPADDR}/${NUMBER}.
	Destination string `mapstructure:"destination"`
	// Weight is added to each answer's weight [0].
	Weight int `mapstructure:"weight"`
	// Options: nopartial (no CANMATCH/MATCHMORE answers), residential,
	// commercial, mobile, nounsolicited, nocomunsolicit.
	Options []string `mapstructure:"options"`
}

// PeerConfig is one peer.
type PeerConfig struct {
	// EID is the peer's entity id. Required unless the model is outbound.
	EID string `mapstructure:"eid"`
	// Host is host[:port] (port 4520 by default), or "dynamic" for a peer
	// that registers its address with us.
	Host string `mapstructure:"host"`
	// Model: symmetric (both ask each other), inbound (it asks us),
	// outbound (we ask it), none [symmetric].
	Model string `mapstructure:"model"`
	// Permit lists the contexts it may ask us in ("all" for every one).
	Permit []string `mapstructure:"permit"`
	// Include lists the contexts we ask it in ("all" for every one).
	Include []string `mapstructure:"include"`
	// PublicKey is the peer's .pub file (Asterisk's inkey): with it, every
	// packet to and from the peer is encrypted.
	PublicKey string `mapstructure:"public_key"`
	// PrivateKey is our .key file toward this peer (Asterisk's outkey)
	// [dundi.private_key].
	PrivateKey string `mapstructure:"private_key"`
	// Unencrypted accepts packets in clear from this peer, but only from
	// AllowFrom. A peer without a public key needs it.
	Unencrypted bool `mapstructure:"unencrypted"`
	// AllowFrom lists the addresses or networks clear packets may come
	// from [the peer's host].
	AllowFrom []string `mapstructure:"allow_from"`
	// Qualify is yes (2000 ms), no, or the longest round trip allowed for
	// the NULL it is sent every minute ("1500", 1500ms, 2s), beyond which
	// it is not asked any more [no].
	Qualify string `mapstructure:"qualify"`
	// Register sends our address to the peer every minute (for peers that
	// list us as host=dynamic).
	Register bool `mapstructure:"register"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr:         net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultPort)),
		TTL:          32,
		Expiration:   30,
		RetransTimer: time.Second,
		Retransmits:  4,
		KeyTTL:       time.Hour,
		AckDelay:     20 * time.Millisecond,
		ReplayWindow: 10 * time.Second,
		MaxLookups:   1024,
	}
}

// withDefaults fills zero values from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.TTL == 0 {
		c.TTL = d.TTL
	}
	if c.Expiration == 0 {
		c.Expiration = d.Expiration
	}
	if c.RetransTimer == 0 {
		c.RetransTimer = d.RetransTimer
	}
	if c.Retransmits == 0 {
		c.Retransmits = d.Retransmits
	}
	if c.KeyTTL == 0 {
		c.KeyTTL = d.KeyTTL
	}
	if c.AckDelay == 0 {
		c.AckDelay = min(d.AckDelay, c.RetransTimer/4)
	}
	if c.ReplayWindow == 0 {
		c.ReplayWindow = d.ReplayWindow
	}
	if c.MaxLookups == 0 {
		c.MaxLookups = d.MaxLookups
	}
	return c
}

// Validate checks the configuration without touching files or the
// network, and says what to fix. Zero values take their defaults.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// Model bits, as in Asterisk.
const (
	modelInbound  = 1 << 0 // the peer may ask us
	modelOutbound = 1 << 1 // we ask the peer
)

// peerSpec is a checked PeerConfig.
type peerSpec struct {
	cfg       PeerConfig
	eid       EID
	model     int
	permit    []string
	include   []string
	dynamic   bool
	host      string // host[:port] to resolve, "" when dynamic
	allowFrom []netip.Prefix
	qualify   time.Duration
}

// checked is a validated Config.
type checked struct {
	Config
	eid      EID
	mappings []Mapping
	peers    []peerSpec
}

func (c Config) resolve() (*checked, error) {
	c = c.withDefaults()
	var problems []string
	add := func(f string, args ...any) { problems = append(problems, fmt.Sprintf(f, args...)) }
	out := &checked{Config: c}
	if _, _, err := splitHostPort(c.Addr, DefaultPort); err != nil {
		add("dundi.addr %q: %v (use host:port, e.g. 127.0.0.1:4520)", c.Addr, err)
	}
	if c.EID == "" {
		add("dundi.eid is empty: give this agent's entity id, e.g. 02:00:00:00:01:01 (its Asterisk peers list it as [02:00:00:00:01:01])")
	} else if e, err := ParseEID(c.EID); err != nil {
		add("dundi.eid: %v", err)
	} else {
		out.eid = e
	}
	if c.TTL < 1 || c.TTL > 255 {
		add("dundi.ttl %d: use 1 to 255 hops", c.TTL)
	}
	if c.Expiration < 1 || c.Expiration > 65535 {
		add("dundi.expiration %d: use 1 to 65535 seconds", c.Expiration)
	}
	if c.RetransTimer < time.Millisecond {
		add("dundi.retrans_timer %s: use at least 1ms (Asterisk uses 1s)", c.RetransTimer)
	}
	if c.Retransmits < 0 || c.Retransmits > 20 {
		add("dundi.retransmits %d: use 0 to 20", c.Retransmits)
	}
	if c.KeyTTL < time.Second {
		add("dundi.key_ttl %s: use at least 1s (Asterisk uses 1h)", c.KeyTTL)
	}
	if c.AckDelay < 0 || c.AckDelay >= c.RetransTimer {
		add("dundi.ack_delay %s: use 0 up to less than dundi.retrans_timer (%s)", c.AckDelay, c.RetransTimer)
	}
	if c.MaxLookups < 1 {
		add("dundi.max_lookups %d: use at least 1", c.MaxLookups)
	}
	for i, m := range c.Mappings {
		mp, err := parseMapping(m)
		if err != nil {
			add("dundi.mappings[%d]: %v", i, err)
			continue
		}
		out.mappings = append(out.mappings, mp)
	}
	seen := map[EID]int{}
	needKey := false
	for i, pc := range c.Peers {
		ps, errs := checkPeer(pc)
		name := fmt.Sprintf("dundi.peers[%d]", i)
		if pc.EID != "" {
			name += " (" + pc.EID + ")"
		}
		for _, e := range errs {
			add("%s: %s", name, e)
		}
		if len(errs) > 0 {
			continue
		}
		if !ps.eid.IsZero() {
			if j, dup := seen[ps.eid]; dup {
				add("%s: entity id %s is also dundi.peers[%d]: list each peer once", name, ps.eid, j)
			}
			seen[ps.eid] = i
			if ps.eid == out.eid {
				add("%s: entity id %s is this agent's own dundi.eid", name, ps.eid)
			}
		}
		if pc.PublicKey != "" && pc.PrivateKey == "" {
			needKey = true
		}
		out.peers = append(out.peers, ps)
	}
	if needKey && c.PrivateKey == "" {
		add("dundi.private_key is empty but a peer has a public_key: give this agent's .key file (make a pair with 'astgenkey -n NAME')")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	return out, nil
}

func checkPeer(pc PeerConfig) (peerSpec, []string) {
	var errs []string
	add := func(f string, args ...any) { errs = append(errs, fmt.Sprintf(f, args...)) }
	ps := peerSpec{cfg: pc}
	switch strings.ToLower(pc.Model) {
	case "", "symmetric":
		ps.model = modelInbound | modelOutbound
	case "inbound":
		ps.model = modelInbound
	case "outbound":
		ps.model = modelOutbound
	case "none":
	default:
		add("model %q: use symmetric, inbound, outbound or none", pc.Model)
	}
	if pc.EID == "" {
		if ps.model&modelInbound != 0 {
			add("eid is empty: a peer that may ask us needs its entity id (or set model: outbound)")
		}
	} else if e, err := ParseEID(pc.EID); err != nil {
		add("%v", err)
	} else {
		ps.eid = e
	}
	switch h := strings.TrimSpace(pc.Host); {
	case strings.EqualFold(h, "dynamic"):
		ps.dynamic = true
		if ps.eid.IsZero() {
			add("host is dynamic: a dynamic peer registers by its entity id, so give eid")
		}
	case h == "":
		add("host is empty: give host[:port] or dynamic")
	default:
		if _, _, err := splitHostPort(h, DefaultPort); err != nil {
			add("host %q: %v", h, err)
		}
		ps.host = h
	}
	for _, c := range pc.Permit {
		ps.permit = append(ps.permit, strings.TrimSpace(c))
	}
	for _, c := range pc.Include {
		ps.include = append(ps.include, strings.TrimSpace(c))
	}
	if len(ps.permit) > 0 && ps.model&modelInbound == 0 {
		add("permit lists contexts but model %q never lets the peer ask us: set model: inbound or symmetric", pc.Model)
	}
	if len(ps.include) > 0 && ps.model&modelOutbound == 0 {
		add("include lists contexts but model %q never lets us ask the peer: set model: outbound or symmetric", pc.Model)
	}
	if pc.PublicKey == "" && !pc.Unencrypted {
		add("no public_key and unencrypted is false: give the peer's public key (Asterisk's inkey), or set unencrypted: true (with allow_from) to talk in clear")
	}
	if pc.Unencrypted {
		for _, a := range pc.AllowFrom {
			pfx, err := parsePrefix(a)
			if err != nil {
				add("allow_from %q: %v", a, err)
				continue
			}
			ps.allowFrom = append(ps.allowFrom, pfx)
		}
		if len(pc.AllowFrom) == 0 && ps.dynamic {
			add("unencrypted dynamic peer without allow_from: say which addresses may send clear packets")
		}
	} else if len(pc.AllowFrom) > 0 {
		add("allow_from is set but unencrypted is false: allow_from only limits clear packets; set unencrypted: true or remove allow_from")
	}
	switch q := strings.ToLower(strings.TrimSpace(pc.Qualify)); q {
	case "", "no":
	case "yes":
		ps.qualify = 2000 * time.Millisecond
	default:
		if n, err := strconv.Atoi(q); err == nil && n > 0 {
			ps.qualify = time.Duration(n) * time.Millisecond
		} else if d, err := time.ParseDuration(q); err == nil && d > 0 {
			ps.qualify = d
		} else {
			add("qualify %q: use yes, no, or the longest round trip allowed (1500ms, 2s)", pc.Qualify)
		}
	}
	if pc.Register && ps.dynamic {
		add("register: yes needs the peer's address, but host is dynamic")
	}
	return ps, errs
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an address or network (want 10.0.0.5 or 10.0.0.0/24)")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an address or network (want 10.0.0.5 or 10.0.0.0/24)")
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// splitHostPort splits host[:port], with def when the port is missing.
func splitHostPort(s string, def int) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(s, "[]"), def, nil
		}
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return host, n, nil
}

// hasContext reports whether a permit or include list names ctx, as
// Asterisk's has_permission does ("all" matches every context).
func hasContext(list []string, ctx string) bool {
	for _, c := range list {
		if strings.EqualFold(c, "all") || strings.EqualFold(c, ctx) {
			return true
		}
	}
	return false
}
