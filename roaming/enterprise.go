package roaming

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Enterprise is what the report, the audits and DUNDi publishing read of
// a store: every cluster's records, reduced to the fields they use. It
// holds no secret, only the rule a secret breaks.
type Enterprise struct {
	Version    Version
	Extensions []Extension // in key order (cluster, then number)
	Trunks     []Trunk     // in key order
	ACLs       map[string]*ACL
	Groups     map[string]*Group
	Clusters   []Cluster // by name
	HotDesks   []HotDesk // in key order
	Acks       map[string]Ack
	// Policy is the secret policy the extensions and trunks were read with.
	Policy Policy

	byNumberOnce sync.Once
	byNumber     []int32 // Extensions indices ordered by number, then cluster
}

// Extension is one extension record as the audits see it.
type Extension struct {
	Cluster     string `json:"cluster"`
	Number      string `json:"extension"`
	Site        string `json:"site,omitempty"`
	Group       string `json:"group,omitempty"`
	Name        string `json:"name,omitempty"`
	Mailbox     string `json:"mailbox,omitempty"`
	Context     string `json:"context,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	ACL         string `json:"acl,omitempty"`
	Permit      string `json:"permit,omitempty"`
	CallGroup   string `json:"callgroup,omitempty"`
	PickupGroup string `json:"pickupgroup,omitempty"`
	Roaming     bool   `json:"roaming"`
	// WeakSecret and WeakPIN name the rule the SIP secret or the voicemail
	// PIN breaks ("" when none): never the secret itself.
	WeakSecret string `json:"-"`
	WeakPIN    string `json:"-"`
}

// Key returns the record key, cluster/number.
func (e *Extension) Key() string { return e.Cluster + "/" + e.Number }

// Trunk is one trunk record as the audits see it.
type Trunk struct {
	Cluster, Name, Site, Group string
	Host, Protocol, ACL        string
	Encryption, Register       bool
	WeakSecret                 string
}

// ACL is one access list with its networks parsed.
type ACL struct {
	Name     string
	Networks []pbx.Network
	Invalid  string // why the networks do not parse ("" when they do)
}

// Group is one group: its tenant and its dialplan contexts.
type Group struct {
	Name     string
	Tenant   string
	Contexts []string // the contexts its extensions may use (contexts, plus context)
}

// Cluster is one cluster: where it is and the addresses of its voice service.
type Cluster struct {
	Name         string
	Site         string
	VoiceVIP     string
	VoiceServers []string
}

// HotDesk is one hot desk phone.
type HotDesk struct {
	Cluster, Extension, Group, Context, User string
}

// Ack is the acknowledgement of one finding.
type Ack struct {
	Finding string `json:"finding"`
	By      string `json:"by"`
	Why     string `json:"why"`
	At      string `json:"at,omitempty"`
}

// Policy is what makes a secret weak (see pbx.WeakSecret).
type Policy struct {
	MinSecretLength int // SIP secrets shorter than this are weak
	MinPINLength    int // voicemail PINs shorter than this are weak
}

// Cluster returns the named cluster, or nil.
func (e *Enterprise) Cluster(name string) *Cluster {
	i := sort.Search(len(e.Clusters), func(i int) bool { return e.Clusters[i].Name >= name })
	if i < len(e.Clusters) && e.Clusters[i].Name == name {
		return &e.Clusters[i]
	}
	return nil
}

// Load reads the enterprise out of one snapshot, applying the secret
// policy as it reads. Every table is read in one pass, one field
// iteration per record.
func Load(sn *store.Snapshot, policy Policy) (*Enterprise, error) {
	e := &Enterprise{ACLs: map[string]*ACL{}, Groups: map[string]*Group{}, Acks: map[string]Ack{}, Policy: policy}
	var err error
	if e.Version, err = StoreVersion(sn); err != nil {
		return nil, err
	}
	in := interner{}
	// Sized up front: growing a slice of 100,000 extensions copies it a
	// dozen times.
	e.Extensions = make([]Extension, 0, sn.Count(pbx.Extensions.Name))
	steps := []struct {
		t  *pbx.Table
		fn func(key string, v []byte) error
	}{
		{pbx.Clusters, e.loadCluster},
		{pbx.Groups, e.loadGroup},
		{pbx.ACLs, e.loadACL},
		{pbx.Extensions, func(k string, v []byte) error { return e.loadExtension(in, k, v) }},
		{pbx.Trunks, e.loadTrunk},
		{pbx.HotDesks, e.loadHotDesk},
		{pbx.Acks, e.loadAck},
	}
	for _, s := range steps {
		err := sn.Scan(s.t.Name, "", func(key string, v []byte) error {
			if err := s.fn(key, v); err != nil {
				return fmt.Errorf("roaming: %s/%s: %w", s.t.Name, key, err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// interner keeps one copy of values that repeat across records (cluster,
// group, context...), so 100,000 extensions do not hold 100,000 copies.
type interner map[string]string

func (in interner) of(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

func (e *Enterprise) loadExtension(in interner, key string, v []byte) error {
	cluster, number, ok := strings.Cut(key, "/")
	if !ok {
		return ErrMalformed
	}
	x := Extension{Cluster: in.of([]byte(cluster)), Number: number, Protocol: "SIP"}
	var secret, md5, vmsecret, authuser, defaultuser []byte
	ok = pbx.EachField(v, func(name string, val []byte) bool {
		switch name {
		case "site":
			x.Site = in.of(val)
		case "astgroup":
			x.Group = in.of(val)
		case "name":
			x.Name = string(val)
		case "mailbox":
			x.Mailbox = string(val)
		case "context":
			x.Context = in.of(val)
		case "protocol":
			x.Protocol = in.of(val)
		case "acl":
			x.ACL = in.of(val)
		case "permit":
			x.Permit = in.of(val)
		case "callgroup":
			x.CallGroup = in.of(val)
		case "pickupgroup":
			x.PickupGroup = in.of(val)
		case "roaming":
			x.Roaming = strings.EqualFold(string(val), "yes")
		case "secret":
			secret = val
		case "md5secret":
			md5 = val
		case "vmsecret":
			vmsecret = val
		case "authuser":
			authuser = val
		case "defaultuser":
			defaultuser = val
		}
		return true
	})
	if !ok {
		return ErrMalformed
	}
	// An md5secret alone is a hash the audit cannot judge, not an empty secret.
	if len(secret) > 0 || len(md5) == 0 {
		x.WeakSecret = weakSecret(string(secret), number, string(authuser), string(defaultuser), e.Policy.MinSecretLength)
	}
	// An empty PIN is what the guide shows once the user has changed it.
	if len(vmsecret) > 0 && x.Mailbox != "" {
		x.WeakPIN = pbx.WeakPIN(string(vmsecret), number, e.Policy.MinPINLength)
	}
	e.Extensions = append(e.Extensions, x)
	return nil
}

// weakSecret is pbx.WeakSecret plus the user names a scanner tries first.
func weakSecret(secret, ext, authuser, defaultuser string, minLen int) string {
	if r := pbx.WeakSecret(secret, ext, minLen); r != "" {
		return r
	}
	if secret == authuser || secret == defaultuser {
		return "equal to the user name"
	}
	return ""
}

func (e *Enterprise) loadTrunk(key string, v []byte) error {
	f, err := pbx.DecodeFields(v)
	if err != nil {
		return err
	}
	t := Trunk{Cluster: f["cluster"], Name: f["name"], Site: f["site"], Group: f["group"], Host: f["host"],
		Protocol: f["protocol"], ACL: f["acl"], Encryption: strings.EqualFold(f["encryption"], "yes"),
		Register: strings.EqualFold(f["register"], "yes")}
	if t.Protocol == "" {
		t.Protocol = "SIP"
	}
	// Providers may authenticate a trunk by address alone: only a secret
	// that is set can be weak.
	if f["secret"] != "" {
		t.WeakSecret = pbx.WeakSecret(f["secret"], "", e.Policy.MinSecretLength)
		if t.WeakSecret == "" && (f["secret"] == t.Name || f["secret"] == f["authuser"]) {
			t.WeakSecret = "equal to the trunk or user name"
		}
	}
	e.Trunks = append(e.Trunks, t)
	return nil
}

func (e *Enterprise) loadACL(key string, v []byte) error {
	f, err := pbx.DecodeFields(v)
	if err != nil {
		return err
	}
	a := &ACL{Name: key}
	a.Networks, a.Invalid = pbx.ParseNetworks(f["networks"])
	e.ACLs[key] = a
	return nil
}

func (e *Enterprise) loadGroup(key string, v []byte) error {
	f, err := pbx.DecodeFields(v)
	if err != nil {
		return err
	}
	g := &Group{Name: key, Tenant: f["tenant"], Contexts: pbx.List(f["contexts"])}
	if c := f["context"]; c != "" && !contains(g.Contexts, c) {
		g.Contexts = append(g.Contexts, c)
	}
	e.Groups[key] = g
	return nil
}

func (e *Enterprise) loadCluster(key string, v []byte) error {
	f, err := pbx.DecodeFields(v)
	if err != nil {
		return err
	}
	e.Clusters = append(e.Clusters, Cluster{Name: key, Site: f["site"], VoiceVIP: f["voice_vip"], VoiceServers: pbx.List(f["voice_servers"])})
	return nil
}

func (e *Enterprise) loadHotDesk(key string, v []byte) error {
	f, err := pbx.DecodeFields(v)
	if err != nil {
		return err
	}
	h := HotDesk{Cluster: f["cluster"], Extension: f["extension"], Group: f["group"], Context: f["context"], User: f["user"]}
	if h.Group == "" {
		h.Group = "hotdesk"
	}
	e.HotDesks = append(e.HotDesks, h)
	return nil
}

func (e *Enterprise) loadAck(key string, v []byte) error {
	f, err := pbx.DecodeFields(v)
	if err != nil {
		return err
	}
	e.Acks[key] = Ack{Finding: key, By: f["by"], Why: f["why"], At: f["at"]}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
