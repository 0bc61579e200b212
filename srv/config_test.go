package srv

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Addr = "" }, "dns_addr: empty"},
		{func(c *Config) { c.Addr = "127.0.0.1" }, "dns_addr: \"127.0.0.1\""},
		{func(c *Config) { c.Domain = "bad..name" }, "dns.domain"},
		{func(c *Config) { c.TTL = -1 }, "dns.ttl: -1 seconds"},
		{func(c *Config) { c.Nameservers = nil }, "dns.nameservers: empty"},
		{func(c *Config) { c.Addr = "0.0.0.0:53" }, "dns.nameservers: ns1.voice.example.net. is inside the zone and needs an address: write ns1=ADDRESS"},
		{func(c *Config) { c.Nameservers = []string{"ns.other.org.=192.0.2.1"} }, "outside the zone"},
		{func(c *Config) { c.Nameservers = []string{"ns1=not-an-ip"} }, "is not an IP address"},
		{func(c *Config) { c.AllowTransfer = []string{"10.0.0.0/33"} }, "dns.allow_transfer: \"10.0.0.0/33\""},
		{func(c *Config) { c.Notify = []string{"ns2.example.net"} }, "dns.notify: \"ns2.example.net\": want IP or IP:PORT"},
		{func(c *Config) { c.MaxUDPSize = 100 }, "dns.max_udp_size: 100"},
		{func(c *Config) { c.TCPIdleTimeout = 0 }, "dns.tcp_idle_timeout"},
		{func(c *Config) { c.TCPMaxConnsPerSource = 0 }, "dns.tcp_max_conns_per_source: 0"},
		{func(c *Config) { c.RRL.Rate = 5; c.RRL.IPv4Prefix = 40 }, "dns.rrl.ipv4_prefix: 40"},
		{func(c *Config) { c.RRL.Slip = -1 }, "dns.rrl.slip"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want it to contain %q", err, c.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	probe := []struct {
		edit func(*ProbeConfig)
		want string
	}{
		{func(p *ProbeConfig) { p.Interval = time.Millisecond }, "dns.probe.interval"},
		{func(p *ProbeConfig) { p.Timeout = 2 * time.Second }, "dns.probe.timeout: 2s: give a positive duration no longer than dns.probe.interval (1s)"},
		{func(p *ProbeConfig) { p.DownAfter = 0 }, "dns.probe.down_after"},
		{func(p *ProbeConfig) { p.Source = "eth0" }, "dns.probe.source: \"eth0\""},
	}
	for _, c := range probe {
		p := DefaultProbeConfig()
		p.Enabled = true
		c.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("probe err = %v, want %q", err, c.want)
		}
	}
}

func TestBadClusterIsSkippedNotFatal(t *testing.T) {
	st := sampleStore(t)
	f := sampleClusters(t)[0]
	f["name"], f["voice_vip"] = "broken", "not-an-ip"
	putClusters(t, st, f)
	s := startServer(t, st, nil, nil)
	z, _ := s.Zone()
	if len(z.Skipped) != 1 || z.Skipped[0].Cluster != "broken" || !strings.Contains(z.Skipped[0].Reason, `voice_vip "not-an-ip" is not an IP address`) {
		t.Fatalf("skipped: %+v", z.Skipped)
	}
	if ask(t, s.Addr(), "udp", "tpa1."+zoneName, 1).Rcode != 0 {
		t.Fatal("the other clusters are served")
	}
}

func TestHoldDownDefaults(t *testing.T) {
	c := DefaultConfig().Checker()
	if c.HoldDown != time.Minute || c.HoldDownWindow != 10*time.Second {
		t.Fatalf("hold-down defaults: %+v", c)
	}
	if err := (CheckerConfig{HoldDown: -time.Second}).Validate(); err == nil || !strings.Contains(err.Error(), "dns.hold_down") {
		t.Fatalf("negative hold-down: %v", err)
	}
}
