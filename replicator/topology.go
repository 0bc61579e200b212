package replicator

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Mode is how changes travel between clusters.
type Mode string

const (
	// Ring (circular): each cluster pulls everything from the nearest live
	// cluster before it in Order; a dead member is skipped.
	Ring Mode = "ring"
	// Mesh (master/master): each cluster pulls every other cluster's own
	// changes; anti-entropy fills any gap.
	Mesh Mode = "mesh"
	// Primary (master/slave): only the primary accepts configuration
	// writes; the others pull from it.
	Primary Mode = "primary"
	// Site (site/distributed): like mesh, but the site-only tables stay
	// within their site.
	Site Mode = "site"
)

// Modes lists the valid modes.
var Modes = []Mode{Ring, Mesh, Primary, Site}

// Topology is the replicated record that says how replication runs. Every
// cluster reads the same record, so all agree; changing it takes effect at
// once, without a restart.
type Topology struct {
	Mode       Mode
	Order      []string // ring order of clusters
	Primary    string   // the primary cluster in primary mode
	SiteTables []string // tables replicated only within a site
}

// TopologyTable and TopologyKey address the topology record.
const (
	TopologyTable = "topology"
	TopologyKey   = "enterprise"
)

// defaultSiteTables are site-only in site mode unless the topology names
// others: per-site operations data. Extensions, clusters, groups, trunks
// and ACLs stay enterprise-wide because roaming, DNS and DUNDi need them.
var defaultSiteTables = []string{"hours", "hotdesks"}

// Validate checks a topology and says what to fix.
func (t Topology) Validate() error {
	if !slices.Contains(Modes, t.Mode) {
		return fmt.Errorf("replication mode %q: use ring, mesh, primary or site", t.Mode)
	}
	seen := map[string]bool{}
	for _, c := range t.Order {
		if !pbx.IsLabel(c) {
			return fmt.Errorf("replication order: %q is not a cluster name", c)
		}
		if seen[c] {
			return fmt.Errorf("replication order lists %s twice", c)
		}
		seen[c] = true
	}
	if t.Mode == Primary && t.Primary == "" {
		return fmt.Errorf("primary mode needs replication.primary: the cluster that accepts writes")
	}
	for _, tb := range t.SiteTables {
		if tb == TopologyTable || tb == WatermarkTable || tb == "clusters" || tb == "sites" {
			return fmt.Errorf("table %s cannot be site-only: every cluster needs it", tb)
		}
	}
	return nil
}

// SiteOnly reports whether a table is replicated only within its site.
func (t Topology) SiteOnly(table string) bool { return slices.Contains(t.SiteOnlyTables(), table) }

// SiteOnlyTables returns the tables replicated only within a site.
func (t Topology) SiteOnlyTables() []string {
	switch {
	case t.Mode != Site:
		return nil
	case len(t.SiteTables) == 0:
		return defaultSiteTables
	}
	return t.SiteTables
}

// Fields returns the record form of t.
func (t Topology) Fields() pbx.Fields {
	return pbx.Fields{"mode": string(t.Mode), "order": strings.Join(t.Order, ","),
		"primary": t.Primary, "site_tables": strings.Join(t.SiteTables, ",")}.Compact()
}

// TopologyFromFields parses the record form.
func TopologyFromFields(f pbx.Fields) (Topology, error) {
	t := Topology{Mode: Mode(f["mode"]), Order: pbx.List(f["order"]), Primary: f["primary"], SiteTables: pbx.List(f["site_tables"])}
	return t, t.Validate()
}

// ReadTopology returns the topology record, or def when there is none yet.
func ReadTopology(sn *store.Snapshot, def Topology) (Topology, error) {
	f, ok, err := sn.GetFields(TopologyTable, TopologyKey)
	if err != nil || !ok {
		return def, err
	}
	return TopologyFromFields(f)
}

// ClusterView is what membership says about one cluster.
type ClusterView struct {
	Name  string
	Site  string
	Alive bool     // some node of the cluster is alive
	Addrs []string // replication addresses of its live nodes (leader first when known)
}

// Source is one peer cluster this replica pulls from, and what it asks for.
type Source struct {
	Cluster string
	Addrs   []string
	Scopes  []string // "" is the enterprise scope
	Origins []string // empty: every origin
}

// Sources returns whom cluster self (at site) pulls from under t, given the
// clusters membership knows. The result is sorted, so it is the same for
// the same inputs (simulations replay).
func (t Topology) Sources(self, site string, clusters []ClusterView) []Source {
	others := map[string]ClusterView{}
	var alive []string
	for _, c := range clusters {
		if c.Name == self {
			continue
		}
		others[c.Name] = c
		if c.Alive {
			alive = append(alive, c.Name)
		}
	}
	sort.Strings(alive)
	scopes := func(peer string) []string {
		if others[peer].Site == site && site != "" {
			return []string{"", site}
		}
		return []string{""}
	}
	src := func(peer string, ownOnly bool) Source {
		s := Source{Cluster: peer, Addrs: others[peer].Addrs, Scopes: scopes(peer)}
		if ownOnly {
			s.Origins = []string{peer}
		}
		return s
	}
	var out []Source
	switch t.Mode {
	case Ring:
		if pred := t.predecessor(self, others); pred != "" {
			out = append(out, src(pred, false))
			break
		}
		// Not in the ring order (or alone in it): pull from everyone, so
		// nothing is lost while the order is being fixed.
		for _, c := range alive {
			out = append(out, src(c, false))
		}
	case Primary:
		if self == t.Primary || !others[t.Primary].Alive {
			// The primary (and, while it is down, each replica) gathers
			// from every live cluster, so no write made before a mode
			// change or a promotion is lost.
			for _, c := range alive {
				out = append(out, src(c, false))
			}
		} else {
			out = append(out, src(t.Primary, false))
		}
	default: // mesh and site
		for _, c := range alive {
			out = append(out, src(c, true))
		}
	}
	return out
}

// predecessor returns the nearest live cluster before self in the ring.
func (t Topology) predecessor(self string, others map[string]ClusterView) string {
	order := t.Order
	i := slices.Index(order, self)
	if i < 0 {
		return ""
	}
	for k := 1; k < len(order); k++ {
		c := order[(i-k+len(order))%len(order)]
		if others[c].Alive {
			return c
		}
	}
	return ""
}

// IsReplicatorTable reports whether table is one the replicator keeps
// (topology, watermarks, revocations), not one of the model's.
func IsReplicatorTable(table string) bool {
	return table == TopologyTable || table == WatermarkTable || table == RevocationTable
}
