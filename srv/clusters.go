package srv

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Cluster is what the zone needs of one record of the clusters table.
type Cluster struct {
	Name       string
	Site       string
	VIP        netip.Addr
	SIPPort    uint16
	SIPSPort   uint16
	Transports []string // udp, tcp, tls: the ones the cluster offers, in its order
	Failover   []string // clusters phones move to, in order
}

// Offers reports whether the cluster offers a transport.
func (c Cluster) Offers(transport string) bool {
	for _, t := range c.Transports {
		if t == transport {
			return true
		}
	}
	return false
}

// Problem is a cluster record left out of the zone, and why.
type Problem struct {
	Cluster string `json:"cluster"`
	Reason  string `json:"reason"`
}

func (p Problem) Error() string { return fmt.Sprintf("cluster %s: %s", p.Cluster, p.Reason) }

// LoadClusters reads every cluster of the snapshot, sorted by name.
// Records that cannot be published (they passed validation elsewhere, or
// were written by an older version) come back as problems, not errors: one
// bad record never takes the zone down.
func LoadClusters(sn *store.Snapshot) ([]Cluster, []Problem, error) {
	var out []Cluster
	var probs []Problem
	err := sn.Scan(pbx.Clusters.Name, "", func(key string, value []byte) error {
		f, err := pbx.DecodeFields(value)
		if err != nil {
			probs = append(probs, Problem{key, fmt.Sprintf("record does not decode: %v", err)})
			return nil
		}
		c, err := ClusterFromFields(f)
		if err != nil {
			probs = append(probs, Problem{key, err.Error()})
			return nil
		}
		out = append(out, c)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, probs, err
}

// clusterCache decodes the clusters table only when its records changed:
// every commit to the store wakes the server, and most touch no cluster.
type clusterCache struct {
	sum      [32]byte
	valid    bool
	clusters []Cluster
	probs    []Problem
}

// load returns the clusters of the snapshot and a sum of their records.
func (c *clusterCache) load(sn *store.Snapshot) ([]Cluster, []Problem, [32]byte, error) {
	h := sha256.New()
	var n [8]byte
	err := sn.Scan(pbx.Clusters.Name, "", func(key string, value []byte) error {
		binary.BigEndian.PutUint32(n[:], uint32(len(key)))
		binary.BigEndian.PutUint32(n[4:], uint32(len(value)))
		h.Write(n[:])
		h.Write([]byte(key))
		h.Write(value)
		return nil
	})
	var sum [32]byte
	h.Sum(sum[:0])
	if err != nil || c.valid && sum == c.sum {
		return c.clusters, c.probs, sum, err
	}
	clusters, probs, err := LoadClusters(sn)
	if err != nil {
		return nil, nil, sum, err
	}
	*c = clusterCache{sum: sum, valid: true, clusters: clusters, probs: probs}
	return clusters, probs, sum, nil
}

// ClusterFromFields converts a cluster record. The error names the field
// and what to write instead.
func ClusterFromFields(f pbx.Fields) (Cluster, error) {
	c := Cluster{Name: strings.ToLower(f["name"]), Site: f["site"]}
	if !isLabel(c.Name) {
		return c, fmt.Errorf("%w: name %q is not a DNS label (use a-z, 0-9 and -)", ErrCluster, f["name"])
	}
	vip, err := netip.ParseAddr(f["voice_vip"])
	if err != nil {
		return c, fmt.Errorf("%w: voice_vip %q is not an IP address", ErrCluster, f["voice_vip"])
	}
	c.VIP = vip.Unmap()
	if c.SIPPort, err = port(f, "sip_port", 5060); err != nil {
		return c, err
	}
	if c.SIPSPort, err = port(f, "sips_port", 5061); err != nil {
		return c, err
	}
	tr := f["transports"]
	if tr == "" {
		tr = "udp,tcp,tls"
	}
	for _, t := range splitList(tr) {
		t = strings.ToLower(t)
		if _, ok := transportNames[t]; !ok {
			return c, fmt.Errorf("%w: transports: %q is not one of udp, tcp, tls", ErrCluster, t)
		}
		if !c.Offers(t) {
			c.Transports = append(c.Transports, t)
		}
	}
	for _, fo := range splitList(f["failover"]) {
		c.Failover = append(c.Failover, strings.ToLower(fo))
	}
	return c, nil
}

func port(f pbx.Fields, field string, def uint16) (uint16, error) {
	v := f[field]
	if v == "" {
		return def, nil
	}
	p, err := strconv.ParseUint(v, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%w: %s %q is not a port (1-65535)", ErrCluster, field, v)
	}
	return uint16(p), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
