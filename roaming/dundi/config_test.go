package dundi

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigErrorsSayWhatToFix(t *testing.T) {
	good := func() Config {
		return Config{EID: "02:00:00:00:00:0a", PrivateKey: keyPath("dundiA.key"),
			Mappings: []MappingConfig{{Context: "priv", Tech: "IAX2", Destination: "priv:${SECRET}@${IPADDR}/${NUMBER}"}},
			Peers:    []PeerConfig{{EID: "02:00:00:00:00:0b", Host: "127.0.0.1:4521", Permit: []string{"priv"}, Include: []string{"priv"}, PublicKey: keyPath("dundiB.pub")}}}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no eid", func(c *Config) { c.EID = "" }, "dundi.eid is empty"},
		{"bad eid", func(c *Config) { c.EID = "02:00:00" }, "want six hex pairs"},
		{"bad addr", func(c *Config) { c.Addr = "127.0.0.1:port" }, "dundi.addr"},
		{"ttl", func(c *Config) { c.TTL = 300 }, "dundi.ttl 300: use 1 to 255"},
		{"3-field mapping", func(c *Config) { c.Mappings[0].Destination = "" }, "dundi.mappings[0]: destination is empty"},
		{"weight", func(c *Config) { c.Mappings[0].Weight = 60000 }, "weight 60000: use 0 to 59999"},
		{"tech", func(c *Config) { c.Mappings[0].Tech = "FOO" }, `unknown tech "FOO": use IAX2, SIP, PJSIP or H323`},
		{"option", func(c *Config) { c.Mappings[0].Options = []string{"bogusopt"} }, `unknown option "bogusopt"`},
		{"variable", func(c *Config) { c.Mappings[0].Destination = "${SECRT}@x" }, "unknown variable ${SECRT}"},
		{"peer eid", func(c *Config) { c.Peers[0].EID = "02:00:00:zz" }, "dundi.peers[0] (02:00:00:zz)"},
		{"model", func(c *Config) { c.Peers[0].Model = "sideways" }, `model "sideways": use symmetric, inbound, outbound or none`},
		{"no host", func(c *Config) { c.Peers[0].Host = "" }, "host is empty"},
		{"clear without consent", func(c *Config) { c.Peers[0].PublicKey = "" }, "no public_key and unencrypted is false"},
		{"allow_from alone", func(c *Config) { c.Peers[0].AllowFrom = []string{"10.0.0.1"} }, "allow_from is set but unencrypted is false"},
		{"bad allow_from", func(c *Config) { c.Peers[0].Unencrypted, c.Peers[0].AllowFrom = true, []string{"10.0.0.300"} }, `allow_from "10.0.0.300"`},
		{"qualify", func(c *Config) { c.Peers[0].Qualify = "often" }, `qualify "often": use yes, no, or the longest round trip`},
		{"permit without inbound", func(c *Config) { c.Peers[0].Model = "outbound" }, "permit lists contexts but model"},
		{"duplicate peer", func(c *Config) { c.Peers = append(c.Peers, c.Peers[0]) }, "is also dundi.peers[0]"},
		{"ourselves", func(c *Config) { c.Peers[0].EID = c.EID }, "this agent's own dundi.eid"},
		{"no private key", func(c *Config) { c.PrivateKey = "" }, "dundi.private_key is empty but a peer has a public_key"},
		{"dynamic clear", func(c *Config) { c.Peers[0].Host, c.Peers[0].PublicKey, c.Peers[0].Unencrypted = "dynamic", "", true }, "unencrypted dynamic peer without allow_from"},
	}
	for _, c := range cases {
		cfg := good()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant it to say %q", c.name, err, c.want)
		}
	}
}

func TestNewChecksFiles(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, "long.pub")
	n := new(big.Int).Lsh(big.NewInt(1), 2047)
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(long, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	cases := []struct {
		pub, want string
	}{
		{filepath.Join(dir, "missing.pub"), "no such file"},
		{keyPath("dundiA.key"), `holds a "PRIVATE KEY" block, want a PUBLIC KEY`},
		{long, "is a 2048-bit key; DUNDi needs 1024 bits"},
	}
	for _, c := range cases {
		_, err := New(Config{EID: "02:00:00:00:00:0a", Addr: "127.0.0.1:0", PrivateKey: keyPath("dundiA.key"),
			Peers: []PeerConfig{{EID: "02:00:00:00:00:0b", Host: "127.0.0.1", PublicKey: c.pub, Permit: []string{"priv"}}}}, Deps{Logger: quietLog()})
		if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.pub, err, c.want)
		}
	}
	_, err = New(Config{EID: "02:00:00:00:00:0a", Addr: "127.0.0.1:0",
		Peers: []PeerConfig{{EID: "02:00:00:00:00:0b", Host: "no.such.host.invalid", Unencrypted: true, Permit: []string{"priv"}}}}, Deps{Logger: quietLog()})
	if err == nil || !strings.Contains(err.Error(), `cannot find host "no.such.host.invalid"`) {
		t.Errorf("unresolvable host: %v", err)
	}
}

func TestParseEID(t *testing.T) {
	for in, want := range map[string]string{"02:00:00:00:00:0a": "02:00:00:00:00:0a", "02-00-00-00-00-0A": "02:00:00:00:00:0a", "02000000000A": "02:00:00:00:00:0a"} {
		e, err := ParseEID(in)
		if err != nil || e.String() != want {
			t.Errorf("%s: %v %v", in, e, err)
		}
	}
	for _, bad := range []string{"", "02:00:00:00:00", "02:00:00:00:00:0g", "020:00:00:00:00:0a", "02:00:00:00:00:0a:00"} {
		if _, err := ParseEID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if a, b := ClusterEID("tpa1"), ClusterEID("tpa2"); a == b || a[0]&3 != 2 || ClusterEID("tpa1") != a || AgentEID("tpa1") == a {
		t.Errorf("ClusterEID: %v %v", a, b)
	}
}
