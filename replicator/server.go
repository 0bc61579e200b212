package replicator

import (
	"context"
	"fmt"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// ServePull answers a peer's pull: the changes it lacks, or that it needs a
// snapshot. With req.Wait it holds the request until something new exists
// or the wait ends. It never holds more than one batch in memory per
// request, so a slow peer costs one batch, however far behind it is.
func (r *Replicator) ServePull(ctx context.Context, req *PullRequest) (*PullResponse, error) {
	if req.From == r.cfg.Cluster {
		return nil, fmt.Errorf("%w: pull from cluster %s to itself", ErrMessage, req.From)
	}
	version, err := r.negotiate(req.MaxVersion)
	if err != nil {
		return nil, err
	}
	max := int(req.MaxBytes)
	if max <= 0 || max > r.cfg.MaxBatchBytes {
		max = r.cfg.MaxBatchBytes
	}
	filter := want(req.Scopes, req.Origins)
	var timer <-chan time.Time
	for {
		changed := r.st.Changed()
		b, err := r.st.ChangesSince(req.Summary, filter, max)
		if err != nil {
			return nil, err
		}
		if len(b.Changes) > 0 || b.NeedSnapshot || req.Wait <= 0 {
			r.mu.Lock()
			r.served[req.From] += uint64(len(b.Changes))
			r.mu.Unlock()
			return &PullResponse{From: r.cfg.Cluster, Summary: b.Summary, More: b.More, NeedSnapshot: b.NeedSnapshot, Changes: b.Changes,
				Version: version, ServerTime: r.now()}, nil
		}
		if timer == nil {
			t := time.NewTimer(req.Wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-changed:
		case <-timer:
			return &PullResponse{From: r.cfg.Cluster, Summary: b.Summary}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ServeSnapshot answers one page of a full-state transfer.
func (r *Replicator) ServeSnapshot(ctx context.Context, req *SnapshotRequest) (*store.SnapshotPage, error) {
	max := int(req.MaxBytes)
	if max <= 0 || max > r.cfg.MaxBatchBytes {
		max = r.cfg.MaxBatchBytes
	}
	return r.st.ReadSnapshot(r.tablesFor(req.Scopes), req.After, max)
}

// ServeDigests answers with this replica's summary and table digests.
func (r *Replicator) ServeDigests(ctx context.Context) (*DigestResponse, error) {
	out := &DigestResponse{Cluster: r.cfg.Cluster}
	err := r.st.View(func(sn *store.Snapshot) error {
		var err error
		if out.Summary, err = sn.Summary(); err != nil {
			return err
		}
		out.Digests, err = sn.Digests()
		return err
	})
	return out, err
}

// Served returns, per peer cluster, how many changes it pulled from here.
func (r *Replicator) Served() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.served))
	for k, v := range r.served {
		out[k] = v
	}
	return out
}
