package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// DecommissionRequest takes a cluster out of the enterprise for good.
type DecommissionRequest struct {
	Cluster string `json:"cluster"`
	// Force decommissions a cluster that still has extensions (they stay
	// as records of a cluster that no longer exists).
	Force bool `json:"force,omitempty"`
}

// DecommissionAPI is the decommissioning surface.
type DecommissionAPI interface {
	Decommission(ctx context.Context, req DecommissionRequest) (*WriteReply, error)
}

var (
	_ DecommissionAPI = (*Service)(nil)
)

// Decommission removes a cluster in one write: its cluster record, its
// place in the ring order and in every other cluster's failover list, its
// watermark; and it adds the cluster to the revocation list, which every
// agent checks at each replication handshake (its certificates issued
// until now are refused), leaves out of its sources and stops waiting for
// in tombstone collection. DNS and DUNDi drop it with its cluster record.
func (s *Service) Decommission(ctx context.Context, req DecommissionRequest) (*WriteReply, error) {
	if err := s.needAgent("decommissioning a cluster"); err != nil {
		return nil, err
	}
	c := req.Cluster
	if c == s.deps.Cluster {
		return nil, &Error{Code: 400, Msg: fmt.Sprintf("cluster %s is this agent's own: decommission it from another cluster's agent", c)}
	}
	def := s.deps.Repl.Topology()
	return s.update(ctx, func(sn *store.Snapshot) ([]store.Mutation, error) {
		return decommission(sn, def, req, Author(ctx))
	})
}

// decommission returns the writes that take cluster req.Cluster out of the
// enterprise as sn holds it, each naming the version it replaces.
func decommission(sn *store.Snapshot, def replicator.Topology, req DecommissionRequest, by string) ([]store.Mutation, error) {
	c := req.Cluster
	t, err := replicator.ReadTopology(sn, def)
	if err != nil {
		return nil, err
	}
	if t.Mode == replicator.Primary && t.Primary == c {
		return nil, &Error{Code: 409, Msg: fmt.Sprintf("cluster %s is the primary: promote another first (pbxtopo repl promote CLUSTER)", c)}
	}
	self, rec, err := supersede(sn, pbx.Clusters.Name, c)
	if err != nil {
		return nil, err
	}
	if rec == nil || !rec.Exists() {
		revoked, err := replicator.Revocations(sn)
		if err != nil {
			return nil, err
		}
		if _, done := revoked[c]; done {
			return nil, &Error{Code: 409, Msg: fmt.Sprintf("cluster %s is already decommissioned", c)}
		}
		return nil, &Error{Code: 404, Msg: fmt.Sprintf("cluster %s does not exist", c), Err: store.ErrNotFound}
	}
	var muts []store.Mutation
	if _, ok, err := sn.GetFields(replicator.WatermarkTable, c); err != nil {
		return nil, err
	} else if ok {
		m, _, err := supersede(sn, replicator.WatermarkTable, c)
		if err != nil {
			return nil, err
		}
		muts = append(muts, m)
	}
	exts := 0
	sn.Scan(pbx.Extensions.Name, c+"/", func(string, []byte) error { exts++; return nil })
	if exts > 0 && !req.Force {
		return nil, &Error{Code: 409, Msg: fmt.Sprintf("cluster %s still has %d extensions: move them first (pbxtopo ext move %s/EXT --to CLUSTER), or --force to leave them behind", c, exts, c)}
	}
	// Every other cluster's failover list without it.
	err = sn.Scan(pbx.Clusters.Name, "", func(key string, v []byte) error {
		f, err := pbx.DecodeFields(v)
		if err != nil {
			return err
		}
		list := strings.Split(f["failover"], ",")
		if key == c || !slices.Contains(list, c) {
			return nil
		}
		m, _, err := supersede(sn, pbx.Clusters.Name, key)
		if err != nil {
			return err
		}
		f["failover"] = strings.Join(slices.DeleteFunc(list, func(x string) bool { return x == c }), ",")
		m.Value = f.Compact().AppendBinary(nil)
		muts = append(muts, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.Order = slices.DeleteFunc(slices.Clone(t.Order), func(x string) bool { return x == c })
	if err := t.Validate(); err != nil {
		return nil, &Error{Code: 409, Msg: fmt.Sprintf("without %s the topology is not valid: %v", c, err)}
	}
	topo, _, err := supersede(sn, replicator.TopologyTable, replicator.TopologyKey)
	if err != nil {
		return nil, err
	}
	topo.Value = t.Fields().AppendBinary(nil)
	rev := replicator.Revocation{Cluster: c, At: time.Now(), By: by}
	muts = append(muts, self, topo,
		store.Mutation{Table: replicator.RevocationTable, Key: c, Value: rev.Fields().AppendBinary(nil)})
	return muts, nil
}
