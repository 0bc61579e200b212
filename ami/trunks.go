package ami

import "github.com/pbxtopo/pbxtopo/store"

// TrunkRegistrations answers the audit's question about trunks (the
// roaming.TrunkStatus interface) from the status in a snapshot: a trunk
// is registered when any node of its cluster reports it registered, and
// known when any node reports on it at all.
type TrunkRegistrations struct {
	sn      *store.Snapshot
	cluster map[string]map[string]bool // cluster → trunk → registered
}

// NewTrunkRegistrations reads trunk status from sn as it is asked for.
func NewTrunkRegistrations(sn *store.Snapshot) *TrunkRegistrations {
	return &TrunkRegistrations{sn: sn, cluster: map[string]map[string]bool{}}
}

// TrunkRegistered implements roaming.TrunkStatus.
func (t *TrunkRegistrations) TrunkRegistered(cluster, trunk string) (registered, known bool) {
	byName, ok := t.cluster[cluster]
	if !ok {
		byName = map[string]bool{}
		views, err := ReadStatus(t.sn, KindTrunk, cluster)
		if err == nil {
			for _, v := range views {
				byName[v.Key.Name] = byName[v.Key.Name] || v.Fields["regstatus"] == "registered"
			}
		}
		t.cluster[cluster] = byName
	}
	registered, known = byName[trunk]
	return registered, known
}
