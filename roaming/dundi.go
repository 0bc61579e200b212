package roaming

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pbxtopo/pbxtopo/roaming/astconf"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
)

// DUNDiConfig says how the DUNDi files of a cluster are generated. Every
// cluster must use the same values.
type DUNDiConfig struct {
	// Context is the DUNDi context the clusters look numbers up in.
	Context string `json:"context"`
	// Port is the DUNDi UDP port of every cluster.
	Port int `json:"port"`
	// IAXUser is the IAX2 user that calls found through DUNDi arrive as.
	IAXUser string `json:"iax_user"`
	// Keys makes every peer authenticate with RSA keys named
	// pbxtopo-CLUSTER (inkey = the peer's, outkey = our own).
	Keys bool `json:"keys"`
	// Weight is the weight of this cluster's answers (lower is tried first).
	Weight int `json:"weight"`
}

// DefaultDUNDiConfig returns the defaults: context pbxtopo, port 4520,
// IAX2 user pbxtopo-dundi, RSA keys, weight 0.
func DefaultDUNDiConfig() DUNDiConfig {
	return DUNDiConfig{Context: "pbxtopo", Port: 4520, IAXUser: "pbxtopo-dundi", Keys: true}
}

// Validate checks the settings.
func (c DUNDiConfig) Validate() error {
	switch {
	case !isName(c.Context):
		return fmt.Errorf("%w: DUNDi context %q: use letters, digits, '-' and '_'", ErrBadRequest, c.Context)
	case !isName(c.IAXUser):
		return fmt.Errorf("%w: IAX2 user %q: use letters, digits, '-' and '_'", ErrBadRequest, c.IAXUser)
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("%w: DUNDi port %d: use 1 to 65535", ErrBadRequest, c.Port)
	case c.Weight < 0 || c.Weight > 59999:
		return fmt.Errorf("%w: DUNDi weight %d: use 0 to 59999", ErrBadRequest, c.Weight)
	}
	return nil
}

func isName(s string) bool {
	return s != "" && len(s) <= 64 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

// The names of the generated files and contexts.
const (
	DUNDiFile      = "dundi-pbxtopo.conf"
	ExtensionsFile = "extensions-pbxtopo.conf"
	IAXFile        = "iax-pbxtopo.conf"
	// IncludeDir is the one place the files live: this subdirectory of
	// Asterisk's configuration directory (/etc/asterisk/pbxtopo), from
	// where the main files include them as "pbxtopo/dundi-pbxtopo.conf".
	IncludeDir = "pbxtopo"
)

// Placement says how Asterisk loads one generated file: the main file
// that includes it, the module that reads it, and the sections of the
// main file it adds to ("[mappings](+)"), which must come before the
// include.
type Placement struct {
	File     string
	Main     string
	Module   string
	Sections []string
}

// IncludePath is the path the main file's #include names.
func (p Placement) IncludePath() string { return IncludeDir + "/" + p.File }

// Placements are the generated files in the order they are reloaded:
// the DUNDi peers first, then the IAX2 user the answers dial, then the
// dialplan that uses both.
var Placements = []Placement{
	{DUNDiFile, "dundi.conf", "pbx_dundi.so", []string{"general", "mappings"}},
	{IAXFile, "iax.conf", "chan_iax2.so", nil},
	{ExtensionsFile, "extensions.conf", "pbx_config.so", nil},
}

func placement(file string) Placement {
	for _, p := range Placements {
		if p.File == file {
			return p
		}
	}
	panic("roaming: no placement for " + file)
}

func (c DUNDiConfig) localContext() string  { return "dundi-" + c.Context + "-local" }
func (c DUNDiConfig) switchContext() string { return "dundi-" + c.Context + "-switch" }

// EntityID returns a cluster's DUNDi entity id: 02 (a locally
// administered, unicast MAC-style id) followed by the first five bytes of
// SHA-256("pbxtopo dundi entity id\x00" + cluster name). Every node of the
// cluster, and every other cluster, derives the same id from the name
// alone.
func EntityID(cluster string) string { return dundi.ClusterEID(cluster).String() }

// File is one generated file.
type File struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// Peer is one DUNDi peer of a cluster.
type Peer struct {
	Cluster  string `json:"cluster"`
	EntityID string `json:"entity_id"`
	Host     string `json:"host"`
}

// Bundle is what one cluster's Asterisk needs for DUNDi: dundi.conf peers
// and mapping, the dialplan contexts and the IAX2 user for calls that
// arrive through DUNDi.
type Bundle struct {
	Cluster  string  `json:"cluster"`
	EntityID string  `json:"entity_id"`
	Version  Version `json:"version"`
	Numbers  int     `json:"numbers"` // numbers this cluster answers for
	Peers    []Peer  `json:"peers"`
	Files    []File  `json:"files"`
}

// File returns the named file of the bundle, or nil.
func (b *Bundle) File(name string) *File {
	for i := range b.Files {
		if b.Files[i].Name == name {
			return &b.Files[i]
		}
	}
	return nil
}

// NewBundle generates the DUNDi files of one cluster. The files are a
// function of the enterprise alone (same data, same bytes) and are checked
// with astconf before they are returned.
func NewBundle(e *Enterprise, cluster string, cfg DUNDiConfig) (*Bundle, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	self := e.Cluster(cluster)
	if self == nil {
		names := make([]string, len(e.Clusters))
		for i, c := range e.Clusters {
			names[i] = c.Name
		}
		return nil, fmt.Errorf("%w %q: the clusters are %s", ErrUnknownCluster, cluster, strings.Join(names, ", "))
	}
	b := &Bundle{Cluster: cluster, EntityID: EntityID(cluster), Version: e.Version, Peers: []Peer{}}
	ids := map[string]string{b.EntityID: cluster}
	for _, c := range e.Clusters {
		if c.Name == cluster {
			continue
		}
		p := Peer{Cluster: c.Name, EntityID: EntityID(c.Name), Host: c.VoiceVIP}
		if other, dup := ids[p.EntityID]; dup {
			return nil, fmt.Errorf("%w: clusters %s and %s derive the same entity id %s: rename one", ErrBadConfig, other, c.Name, p.EntityID)
		}
		ids[p.EntityID] = c.Name
		b.Peers = append(b.Peers, p)
	}
	w := &writer{e: e, self: self, cfg: cfg, b: b}
	b.Files = []File{
		{DUNDiFile, w.dundi()},
		{ExtensionsFile, w.extensions()},
		{IAXFile, w.iax()},
	}
	if err := checkBundle(b); err != nil {
		return nil, err
	}
	return b, nil
}

type writer struct {
	e    *Enterprise
	self *Cluster
	cfg  DUNDiConfig
	b    *Bundle
	sb   strings.Builder
}

func (w *writer) line(format string, args ...any) {
	fmt.Fprintf(&w.sb, format, args...)
	w.sb.WriteByte('\n')
}

func (w *writer) header(file string, more ...string) {
	p := placement(file)
	w.sb.Reset()
	w.line("; %s: DUNDi for cluster %s (entity %s), generated by pbxtopo", file, w.b.Cluster, w.b.EntityID)
	w.line("; from store version %s.", w.b.Version)
	w.line("; Do not edit: pbxtopo rewrites this file when the enterprise changes.")
	w.line("; Its place is %s/%s in Asterisk's configuration directory (/etc/asterisk),", IncludeDir, file)
	if len(p.Sections) > 0 {
		w.line("; included at the end of %s, after its [%s] sections:", p.Main, strings.Join(p.Sections, "] and ["))
	} else {
		w.line("; included at the end of %s:", p.Main)
	}
	w.line(`;   #include "%s"`, p.IncludePath())
	w.line("; pbxtopo dundi apply and the agent (dundi.dir) write it there and add that line.")
	for _, l := range more {
		w.line("; %s", l)
	}
}

func (w *writer) dundi() string {
	w.header(DUNDiFile)
	w.line("")
	w.line("[general](+)")
	w.line("entityid = %s", w.b.EntityID)
	w.line("")
	w.line("[mappings](+)")
	w.line("; %s answers lookups in DUNDi context %s for the numbers in [%s],", w.b.Cluster, w.cfg.Context, w.cfg.localContext())
	w.line("; and the caller reaches them over IAX2 at its voice address.")
	w.line("%s => %s,%d,IAX2,%s:${SECRET}@%s/${NUMBER},nopartial", w.cfg.Context, w.cfg.localContext(), w.cfg.Weight, w.cfg.IAXUser, iaxHost(w.self.VoiceVIP))
	for _, p := range w.b.Peers {
		w.line("")
		w.line("; cluster %s", p.Cluster)
		w.line("[%s]", p.EntityID)
		w.line("model = symmetric")
		w.line("host = %s", p.Host)
		w.line("port = %d", w.cfg.Port)
		w.line("include = %s", w.cfg.Context)
		w.line("permit = %s", w.cfg.Context)
		w.line("qualify = yes")
		if w.cfg.Keys {
			w.line("inkey = pbxtopo-%s", p.Cluster)
			w.line("outkey = pbxtopo-%s", w.b.Cluster)
		}
	}
	return w.sb.String()
}

// extensions lists the numbers this cluster answers for: its roaming
// extensions, whether their user roams or they are a standard number.
func (w *writer) extensions() string {
	w.header(ExtensionsFile, "Add 'include => "+w.cfg.switchContext()+"' to the contexts whose users may dial",
		"roaming numbers that live on other clusters.")
	var body strings.Builder
	for i := range w.e.Extensions {
		x := &w.e.Extensions[i]
		if x.Cluster != w.b.Cluster || !x.Roaming {
			continue
		}
		w.b.Numbers++
		fmt.Fprintf(&body, "exten => %s,1,Dial(%s/%s)", x.Number, dialTech(x.Protocol), x.Number)
		if note := comment(x.Group, x.Name); note != "" {
			fmt.Fprintf(&body, " ; %s", note)
		}
		fmt.Fprintf(&body, "\n same => n,Hangup()\n")
	}
	w.line("")
	w.line("[%s]", w.cfg.localContext())
	w.line("; The numbers %s answers DUNDi lookups for: its %d roaming extensions.", w.b.Cluster, w.b.Numbers)
	w.line("; Calls found through DUNDi arrive here as IAX2 user %s.", w.cfg.IAXUser)
	w.sb.WriteString(body.String())
	w.line("")
	w.line("[%s]", w.cfg.switchContext())
	w.line("; Numbers the caller's own context does not have are looked up on the other clusters.")
	w.line("switch => DUNDi/%s", w.cfg.Context)
	return w.sb.String()
}

// iax is the IAX2 user calls placed through a DUNDi answer arrive as:
// only the other clusters' voice addresses may use it.
func (w *writer) iax() string {
	w.header(IAXFile)
	w.line("")
	w.line("[%s]", w.cfg.IAXUser)
	w.line("type = user")
	w.line("; The secret DUNDi rotates in the astdb (dundi/secret), as in the caller's ${SECRET}.")
	w.line("dbsecret = dundi/secret")
	w.line("context = %s", w.cfg.localContext())
	w.line("deny = 0.0.0.0/0.0.0.0")
	w.line("deny = ::/0")
	for _, c := range w.e.Clusters {
		if c.Name == w.b.Cluster {
			continue
		}
		seen := map[string]bool{}
		for _, a := range append([]string{c.VoiceVIP}, c.VoiceServers...) {
			if ip, err := netip.ParseAddr(a); err == nil && !seen[a] {
				seen[a] = true
				w.line("permit = %s ; %s", netip.PrefixFrom(ip, ip.BitLen()), c.Name)
			}
		}
	}
	return w.sb.String()
}

func iaxHost(addr string) string {
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() {
		return "[" + addr + "]"
	}
	return addr
}

// dialTech maps an extension's protocol to the channel technology of Dial.
func dialTech(protocol string) string {
	switch strings.ToUpper(protocol) {
	case "PJSIP":
		return "PJSIP"
	case "IAX", "IAX2":
		return "IAX2"
	case "SCCP":
		return "SCCP"
	}
	return "SIP"
}

// comment joins values for a trailing comment, with nothing a config
// line could misread.
func comment(parts ...string) string {
	var keep []string
	for _, p := range parts {
		p = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, strings.TrimSpace(p))
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ", ")
}

// checkBundle loads the files the way Asterisk would (each included
// from a minimal main file) and checks them.
func checkBundle(b *Bundle) error {
	open := func(name string) ([]byte, error) {
		if f := b.File(strings.TrimPrefix(name, IncludeDir+"/")); f != nil {
			return []byte(f.Content), nil
		}
		return nil, fmt.Errorf("no such file")
	}
	main := func(p Placement) []byte {
		return []byte("[general]\n[mappings]\n#include \"" + p.IncludePath() + "\"\n")
	}
	var ps []astconf.Problem
	d := astconf.Parse("dundi.conf", main(placement(DUNDiFile)), open)
	ps = append(append(ps, d.Problems...), astconf.CheckDUNDi(d)...)
	x := astconf.Parse("extensions.conf", main(placement(ExtensionsFile)), open)
	ps = append(append(ps, x.Problems...), astconf.CheckDialplan(x)...)
	i := astconf.Parse("iax.conf", main(placement(IAXFile)), open)
	ps = append(ps, i.Problems...)
	if len(ps) == 0 {
		return nil
	}
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.String()
	}
	return fmt.Errorf("%w for cluster %s: %s", ErrBadConfig, b.Cluster, strings.Join(msgs, "; "))
}
