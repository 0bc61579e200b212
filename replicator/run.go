package replicator

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Run pulls from the sources the topology and membership name until ctx
// ends: one goroutine per source, restarted when the topology or the
// membership changes which sources there are. It also publishes this
// replica's watermark and collects garbage on the watermark interval.
func (r *Replicator) Run(ctx context.Context) error {
	type running struct {
		src    Source
		cancel context.CancelFunc
	}
	var wg sync.WaitGroup
	links := map[string]running{}
	wg.Add(1)
	go func() { defer wg.Done(); r.runStatus(ctx) }()
	defer func() {
		for _, l := range links {
			l.cancel()
		}
		wg.Wait()
	}()
	topoTick := time.NewTicker(time.Second)
	defer topoTick.Stop()
	markTick := time.NewTicker(r.cfg.Watermark)
	defer markTick.Stop()
	lagTick := time.NewTicker(r.lagEvery())
	defer lagTick.Stop()
	for {
		if err := r.RefreshTopology(); err != nil {
			r.log.Error("topology", "err", err)
		}
		want := map[string]Source{}
		for _, s := range r.Sources() {
			want[s.Cluster] = s
		}
		for peer, l := range links {
			if s, ok := want[peer]; !ok || !sameSource(s, l.src) {
				l.cancel()
				delete(links, peer)
			}
		}
		for peer, s := range want {
			if _, ok := links[peer]; ok {
				continue
			}
			lctx, cancel := context.WithCancel(ctx)
			links[peer] = running{s, cancel}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.runLink(lctx, s)
			}()
		}
		r.forget(want)
		r.sampleLag()
		select {
		case <-ctx.Done():
			return nil
		case <-r.members.Changed():
		case <-topoTick.C:
		case <-lagTick.C:
		case <-markTick.C:
			if err := r.PublishWatermark(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("publish watermark", "err", err)
			}
			if purged, pruned, err := r.CollectGarbage(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("garbage collection", "err", err)
			} else if purged+pruned > 0 {
				r.log.Info("garbage collected", "tombstones", purged, "log_entries", pruned)
			}
		}
	}
}

func sameSource(a, b Source) bool {
	return a.Cluster == b.Cluster && slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Origins, b.Origins)
}

// forget notes which peers are pulled from now; a peer that is no longer
// keeps its status (Status shows it dead or indirect) but is no longer
// connected.
func (r *Replicator) forget(current map[string]Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources = current
	for peer, l := range r.links {
		if _, ok := current[peer]; !ok {
			l.Connected = false
		}
	}
}
