package replicator

import (
	"slices"
	"time"
)

// LagSample is how far behind each peer link was at one moment: what the
// status page charts over the last hour.
type LagSample struct {
	Time time.Time `json:"time"`
	// Peers holds, per peer cluster, changes and seconds behind.
	Peers map[string]PeerLag `json:"peers"`
}

// PeerLag is one peer's lag in a sample.
type PeerLag struct {
	Changes uint64  `json:"changes"`
	Seconds float64 `json:"seconds"`
}

// lagHistory keeps the samples of the last lagWindow, one every
// Config.LagSample: 360 samples at 10s, a few kilobytes per peer.
type lagHistory struct {
	samples []LagSample
	last    time.Time
}

const lagWindow = time.Hour

// sampleLag records the links' lag if Config.LagSample has passed since
// the last sample; Run calls it on every turn of its loop.
func (r *Replicator) sampleLag() {
	now := r.now()
	r.mu.Lock()
	due := now.Sub(r.lag.last) >= r.lagEvery()
	r.mu.Unlock()
	if !due {
		return
	}
	s := LagSample{Time: now, Peers: map[string]PeerLag{}}
	for _, l := range r.Status() {
		s.Peers[l.Peer] = PeerLag{Changes: l.Behind, Seconds: l.SecondsBehind}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lag.last = now
	r.lag.samples = append(r.lag.samples, s)
	cut := 0
	for cut < len(r.lag.samples) && now.Sub(r.lag.samples[cut].Time) > lagWindow {
		cut++
	}
	r.lag.samples = slices.Delete(r.lag.samples, 0, cut)
}

func (r *Replicator) lagEvery() time.Duration {
	if r.cfg.LagSample <= 0 {
		return 10 * time.Second
	}
	return r.cfg.LagSample
}

// LagHistory returns the lag samples of the last hour, oldest first
// (none on a node that has not run replication).
func (r *Replicator) LagHistory() []LagSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lag.samples)
}
