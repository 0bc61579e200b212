package replicator

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// WatermarkTable holds one record per cluster: the summary it published.
// A tombstone every watermark covers was seen by every replica and can go;
// so can log entries every replica has.
const WatermarkTable = "watermarks"

// PublishWatermark writes this replica's summary into its watermark
// record (a change like any other, so it replicates).
func (r *Replicator) PublishWatermark(ctx context.Context) error {
	sum := r.st.Summary()
	value := pbx.Fields{"cluster": r.cfg.Cluster, "summary": base64.StdEncoding.EncodeToString(store.AppendSummary(nil, sum))}
	_, err := r.st.Write(ctx, "replicator", []store.Mutation{{Table: WatermarkTable, Key: r.cfg.Cluster, Value: value.AppendBinary(nil)}})
	return err
}

// Clusters returns every cluster of the enterprise, sorted, this one included:
// those of the cluster table, the ring order and the membership, less the
// decommissioned ones. A cluster left out would let a tombstone go before
// it has seen it.
func (r *Replicator) Clusters(sn *store.Snapshot) ([]string, error) {
	members := map[string]bool{r.cfg.Cluster: true}
	sn.Scan(pbx.Clusters.Name, "", func(key string, _ []byte) error { members[key] = true; return nil })
	for _, c := range r.Topology().Order {
		members[c] = true
	}
	for _, c := range r.members.Clusters() {
		members[c.Name] = true
	}
	revoked, err := Revocations(sn)
	if err != nil {
		return nil, err
	}
	for c := range revoked {
		delete(members, c)
	}
	names := make([]string, 0, len(members))
	for m := range members {
		names = append(names, m)
	}
	slices.Sort(names)
	return names, nil
}

// peerNames returns the other clusters of the enterprise (clustersOf),
// or none when the store cannot be read.
func (r *Replicator) peerNames() []string {
	var out []string
	r.st.View(func(sn *store.Snapshot) error {
		names, err := r.Clusters(sn)
		for _, n := range names {
			if n != r.cfg.Cluster {
				out = append(out, n)
			}
		}
		return err
	})
	return out
}

// watermarks returns every member's published summary, and false when some
// member has not published one yet (then nothing may be collected).
func (r *Replicator) watermarks() ([]store.Summary, bool, error) {
	var out []store.Summary
	complete := true
	err := r.st.View(func(sn *store.Snapshot) error {
		names, err := r.Clusters(sn)
		if err != nil {
			return err
		}
		for _, m := range names {
			f, ok, err := sn.GetFields(WatermarkTable, m)
			if err != nil {
				return err
			}
			if !ok {
				complete = false
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(f["summary"])
			if err != nil {
				return fmt.Errorf("watermark of %s: %w", m, err)
			}
			s, err := store.DecodeSummary(raw)
			if err != nil {
				return fmt.Errorf("watermark of %s: %w", m, err)
			}
			out = append(out, s)
		}
		return nil
	})
	return out, complete, err
}

// CollectGarbage purges the tombstones every replica has seen and prunes
// the log entries every replica has that are older than the history
// retention. It does nothing while a member has published no watermark.
func (r *Replicator) CollectGarbage(ctx context.Context) (purged, pruned int, err error) {
	marks, complete, err := r.watermarks()
	if err != nil || !complete || len(marks) == 0 {
		return 0, 0, err
	}
	// The horizon: what every replica had applied when it last spoke; the
	// ceiling: what any of them had.
	safe, ceiling := store.Summary{}, store.Summary{}
	for _, m := range marks {
		for s, seq := range m {
			ceiling[s] = max(ceiling[s], seq)
		}
	}
	for s := range ceiling {
		low := ceiling[s]
		for _, m := range marks {
			low = min(low, m[s])
		}
		safe[s] = low
	}
	if purged, err = r.st.PurgeTombstones(ctx, safe, ceiling); err != nil {
		return purged, 0, err
	}
	pruned, err = r.st.PruneLog(ctx, r.now().Add(-r.cfg.HistoryRetention), safe)
	return purged, pruned, err
}
