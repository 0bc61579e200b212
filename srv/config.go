package srv

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config configures the DNS server. The agent's YAML nests every field
// under `dns.` (the mapstructure tags), except Addr which is the top-level
// `dns_addr`; viper's UnmarshalKey("dns", &cfg) fills it.
type Config struct {
	// Addr is where the server listens, UDP and TCP on the same port
	// (`dns_addr`). Port 0 picks a free port (tests).
	Addr string `mapstructure:"-"`
	// Domain is the voice zone (`dns.domain`).
	Domain string `mapstructure:"domain"`
	// TTL of every record, in seconds (`dns.ttl`); also the SOA minimum,
	// so phones cache a "no such name" as long as an answer.
	TTL int `mapstructure:"ttl"`
	// Nameservers are the NS records of the apex (`dns.nameservers`):
	// NAME or NAME=ADDRESS; a name without a final dot is inside the zone
	// and needs an address (given, or the host of Addr when it is one).
	Nameservers []string `mapstructure:"nameservers"`
	// Hostmaster is the SOA mailbox (`dns.hostmaster`), relative to the
	// zone unless it ends with a dot.
	Hostmaster string `mapstructure:"hostmaster"`
	// AllowTransfer lists the addresses or networks (CIDR) that may
	// transfer the zone by AXFR/IXFR (`dns.allow_transfer`). Empty: none.
	AllowTransfer []string `mapstructure:"allow_transfer"`
	// Notify lists the secondaries (IP or IP:PORT, port 53 by default) told
	// by NOTIFY when the serial rises (`dns.notify`).
	Notify []string `mapstructure:"notify"`
	// Node is this agent's node name; TransferSource names the one node of
	// the site that serves transfers and sends NOTIFY
	// (`dns.transfer_source`). Empty: this node does.
	Node           string `mapstructure:"-"`
	TransferSource string `mapstructure:"transfer_source"`
	// MaxUDPSize caps EDNS0 UDP answers (`dns.max_udp_size`); 1232 avoids
	// IP fragmentation on any path (DNS flag day 2020).
	MaxUDPSize int `mapstructure:"max_udp_size"`
	// UDPWorkers is the number of goroutines answering UDP
	// (`dns.udp_workers`), each a batch of datagrams at a time; 0 means one
	// per two CPUs.
	UDPWorkers int `mapstructure:"udp_workers"`
	// TCPIdleTimeout closes an idle TCP connection (`dns.tcp_idle_timeout`);
	// while more than half of the slots are taken, idle connections get
	// at most a second. TCPMaxConns bounds open TCP connections
	// (`dns.tcp_max_conns`), of which a quarter is kept for the addresses
	// of dns.allow_transfer; TCPMaxConnsPerSource bounds those of one
	// client address (`dns.tcp_max_conns_per_source`).
	TCPIdleTimeout       time.Duration `mapstructure:"tcp_idle_timeout"`
	TCPMaxConns          int           `mapstructure:"tcp_max_conns"`
	TCPMaxConnsPerSource int           `mapstructure:"tcp_max_conns_per_source"`
	// RRL is response rate limiting per client network (`dns.rrl.*`).
	RRL RRLConfig `mapstructure:"rrl"`
	// Probe configures the SIP OPTIONS health probe (`dns.probe.*`), and
	// HoldDown and HoldDownWindow the hold-down rule (`dns.hold_down`,
	// `dns.hold_down_window`; see holddown.go). The server does not read
	// them: they are here so one UnmarshalKey fills them, and the agent
	// passes Checker() to NewChecker.
	Probe          ProbeConfig   `mapstructure:"probe"`
	HoldDown       time.Duration `mapstructure:"hold_down"`
	HoldDownWindow time.Duration `mapstructure:"hold_down_window"`
}

// Checker returns the health checker's part of the settings.
func (c Config) Checker() CheckerConfig {
	return CheckerConfig{Probe: c.Probe, HoldDown: c.HoldDown, HoldDownWindow: c.HoldDownWindow}
}

// RRLConfig is response rate limiting: each client network (an IPv4 /24
// or IPv6 /56 by default) may receive Rate UDP responses per second, with
// bursts of Burst. Over the limit, responses are dropped, except every
// Slip-th one, which is sent truncated so a real client retries over TCP.
type RRLConfig struct {
	Rate       int `mapstructure:"rate"`        // responses per second per network; 0 turns RRL off
	Burst      int `mapstructure:"burst"`       // bucket size; 0 means 2×Rate
	Slip       int `mapstructure:"slip"`        // 0 never sends a truncated answer instead of dropping
	IPv4Prefix int `mapstructure:"ipv4_prefix"` // bits of an IPv4 client address that name its network
	IPv6Prefix int `mapstructure:"ipv6_prefix"` // bits of an IPv6 client address that name its network
}

// ProbeConfig is the SIP OPTIONS probe of each cluster's voice VIP.
type ProbeConfig struct {
	// Enabled turns the probe on (`dns.probe.enabled`). Off, health is
	// membership alone.
	Enabled bool `mapstructure:"enabled"`
	// Interval between two probes of one VIP (`dns.probe.interval`).
	Interval time.Duration `mapstructure:"interval"`
	// Timeout for an answer (`dns.probe.timeout`); the request is sent
	// again at half of it, as SIP's timer E does.
	Timeout time.Duration `mapstructure:"timeout"`
	// DownAfter consecutive failures mark a VIP down (`dns.probe.down_after`);
	// UpAfter consecutive answers mark it up again (`dns.probe.up_after`).
	DownAfter int `mapstructure:"down_after"`
	UpAfter   int `mapstructure:"up_after"`
	// Source is the local address to probe from (`dns.probe.source`);
	// empty means any.
	Source string `mapstructure:"source"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Addr:                 "127.0.0.1:8600",
		Domain:               "voice.example.net",
		TTL:                  30,
		Nameservers:          []string{"ns1"},
		Hostmaster:           "hostmaster",
		MaxUDPSize:           1232,
		TCPIdleTimeout:       10 * time.Second,
		TCPMaxConns:          256,
		TCPMaxConnsPerSource: 8,
		RRL:                  RRLConfig{Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56},
		Probe:                DefaultProbeConfig(),
		HoldDown:             time.Minute,
		HoldDownWindow:       10 * time.Second,
	}
}

// DefaultProbeConfig returns the probe defaults: off; when on, a VIP that
// stops answering is down after 1.5 to 2.5 s (two missed probes 1 s apart,
// each given 500 ms).
func DefaultProbeConfig() ProbeConfig {
	return ProbeConfig{Interval: time.Second, Timeout: 500 * time.Millisecond, DownAfter: 2, UpAfter: 1}
}

// Validate checks the settings and returns an error that names the key.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// settings are the parsed forms of a Config.
type settings struct {
	origin      string // lower-case FQDN
	nameservers []Nameserver
	hostmaster  string
	allow       []netip.Prefix
	notify      []netip.AddrPort
	source      netip.Addr // dns_addr's address, NOTIFY's source; invalid when unspecified
	transfers   bool
}

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
}

func (c Config) compile() (settings, error) {
	var s settings
	if c.Addr == "" {
		return s, configErr("dns_addr", "empty: give HOST:PORT, e.g. 127.0.0.1:8600")
	}
	host, _, err := splitHostPort(c.Addr)
	if err != nil {
		return s, configErr("dns_addr", "%q: %v (want HOST:PORT, e.g. 127.0.0.1:8600)", c.Addr, err)
	}
	if c.Domain == "" || strings.Contains(c.Domain, "..") {
		return s, configErr("dns.domain", "%q is not a domain name (e.g. voice.example.net)", c.Domain)
	}
	s.origin = dns.CanonicalName(c.Domain)
	if _, ok := dns.IsDomainName(s.origin); !ok || s.origin == "." {
		return s, configErr("dns.domain", "%q is not a domain name (e.g. voice.example.net)", c.Domain)
	}
	if c.TTL < 0 || c.TTL > 86400 {
		return s, configErr("dns.ttl", "%d seconds: use 0 to 86400 (phones re-ask after this long; 30 is usual)", c.TTL)
	}
	if len(c.Nameservers) == 0 {
		return s, configErr("dns.nameservers", "empty: name at least one, e.g. ns1 or ns1=192.0.2.53")
	}
	for _, ns := range c.Nameservers {
		n, err := parseNameserver(ns, s.origin, host)
		if err != nil {
			return s, configErr("dns.nameservers", "%v", err)
		}
		s.nameservers = append(s.nameservers, n)
	}
	hm := c.Hostmaster
	if hm == "" {
		hm = "hostmaster"
	}
	s.hostmaster = absName(hm, s.origin)
	if _, ok := dns.IsDomainName(s.hostmaster); !ok {
		return s, configErr("dns.hostmaster", "%q is not a mailbox name (e.g. hostmaster)", c.Hostmaster)
	}
	for _, a := range c.AllowTransfer {
		p, err := parsePrefix(a)
		if err != nil {
			return s, configErr("dns.allow_transfer", "%q: want an address or a network such as 192.0.2.0/24", a)
		}
		s.allow = append(s.allow, p)
	}
	for _, n := range c.Notify {
		ap, err := parseAddrPort(n, 53)
		if err != nil {
			return s, configErr("dns.notify", "%q: want IP or IP:PORT of a secondary", n)
		}
		s.notify = append(s.notify, ap)
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		s.source = a.Unmap()
	}
	s.transfers = c.TransferSource == "" || c.TransferSource == c.Node
	if c.MaxUDPSize < 512 || c.MaxUDPSize > 4096 {
		return s, configErr("dns.max_udp_size", "%d: use 512 to 4096 (1232 is safe everywhere)", c.MaxUDPSize)
	}
	if c.UDPWorkers < 0 || c.UDPWorkers > 1024 {
		return s, configErr("dns.udp_workers", "%d: use 0 (one per two CPUs) to 1024", c.UDPWorkers)
	}
	if c.TCPIdleTimeout <= 0 {
		return s, configErr("dns.tcp_idle_timeout", "%v: give a positive duration such as 10s", c.TCPIdleTimeout)
	}
	if c.TCPMaxConns <= 0 {
		return s, configErr("dns.tcp_max_conns", "%d: give a positive number such as 256", c.TCPMaxConns)
	}
	if c.TCPMaxConnsPerSource <= 0 || c.TCPMaxConnsPerSource > c.TCPMaxConns {
		return s, configErr("dns.tcp_max_conns_per_source", "%d: give a positive number no larger than dns.tcp_max_conns (%d), such as 8",
			c.TCPMaxConnsPerSource, c.TCPMaxConns)
	}
	if err := c.RRL.validate(); err != nil {
		return s, err
	}
	return s, nil
}

func (r RRLConfig) validate() error {
	switch {
	case r.Rate < 0:
		return configErr("dns.rrl.rate", "%d: use 0 (off) or responses per second per client network", r.Rate)
	case r.Burst < 0:
		return configErr("dns.rrl.burst", "%d: use 0 (twice the rate) or a positive number", r.Burst)
	case r.Slip < 0 || r.Slip > 10:
		return configErr("dns.rrl.slip", "%d: use 0 (drop all) to 10", r.Slip)
	case r.Rate > 0 && (r.IPv4Prefix < 8 || r.IPv4Prefix > 32):
		return configErr("dns.rrl.ipv4_prefix", "%d: use 8 to 32 (24 is usual)", r.IPv4Prefix)
	case r.Rate > 0 && (r.IPv6Prefix < 16 || r.IPv6Prefix > 128):
		return configErr("dns.rrl.ipv6_prefix", "%d: use 16 to 128 (56 is usual)", r.IPv6Prefix)
	}
	return nil
}

// Validate checks the probe settings.
func (p ProbeConfig) Validate() error {
	if !p.Enabled {
		return nil
	}
	switch {
	case p.Interval < 10*time.Millisecond:
		return configErr("dns.probe.interval", "%v: give at least 10ms (1s is the default)", p.Interval)
	case p.Timeout <= 0 || p.Timeout > p.Interval:
		return configErr("dns.probe.timeout", "%v: give a positive duration no longer than dns.probe.interval (%v)", p.Timeout, p.Interval)
	case p.DownAfter < 1:
		return configErr("dns.probe.down_after", "%d: give 1 or more failed probes", p.DownAfter)
	case p.UpAfter < 1:
		return configErr("dns.probe.up_after", "%d: give 1 or more answered probes", p.UpAfter)
	}
	if p.Source != "" {
		if _, err := netip.ParseAddr(p.Source); err != nil {
			return configErr("dns.probe.source", "%q: give a local IP address or leave it empty", p.Source)
		}
	}
	return nil
}

// Nameserver is one NS record of the apex and, inside the zone, its address.
type Nameserver struct {
	Name string     // FQDN, lower case
	Addr netip.Addr // zero outside the zone
}

func parseNameserver(s, origin, listenHost string) (Nameserver, error) {
	name, addrText, hasAddr := strings.Cut(strings.TrimSpace(s), "=")
	if name == "" {
		return Nameserver{}, fmt.Errorf("%q: want NAME or NAME=ADDRESS", s)
	}
	n := Nameserver{Name: absName(name, origin)}
	if _, ok := dns.IsDomainName(n.Name); !ok {
		return Nameserver{}, fmt.Errorf("%q is not a host name", name)
	}
	inZone := dns.IsSubDomain(origin, n.Name)
	if hasAddr {
		a, err := netip.ParseAddr(addrText)
		if err != nil {
			return Nameserver{}, fmt.Errorf("%q: %q is not an IP address", s, addrText)
		}
		if !inZone {
			return Nameserver{}, fmt.Errorf("%q: %s is outside the zone, so its address is not ours to publish: drop =%s", s, n.Name, addrText)
		}
		n.Addr = a.Unmap()
		return n, nil
	}
	if !inZone {
		return n, nil
	}
	a, err := netip.ParseAddr(listenHost)
	if err != nil || a.IsUnspecified() {
		return Nameserver{}, fmt.Errorf("%s is inside the zone and needs an address: write %s=ADDRESS", n.Name, name)
	}
	n.Addr = a.Unmap()
	return n, nil
}

// absName makes a name absolute: relative names are inside origin.
func absName(name, origin string) string {
	if strings.HasSuffix(name, ".") {
		return dns.CanonicalName(name)
	}
	return dns.CanonicalName(name + "." + origin)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseAddrPort(s string, defPort uint16) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), defPort), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func splitHostPort(s string) (string, uint16, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("no port")
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]")
	p, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", s[i+1:])
	}
	return host, uint16(p), nil
}
