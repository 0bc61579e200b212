package srv

import "sync"

// Health tells which clusters can take calls. Changed returns a channel
// that is closed at the next change of any answer Up gives (the store's
// convention): callers take it, read Up, then wait on it.
type Health interface {
	Up(cluster string) bool
	Changed() <-chan struct{}
}

// AllUp is the health of an enterprise where every cluster is up: for
// offline tools (`pbxtopo dns zone`) and for tests.
func AllUp() Health { return allUp{} }

type allUp struct{}

func (allUp) Up(string) bool { return true }

// Changed returns nil: a nil channel blocks forever, and nothing changes.
func (allUp) Changed() <-chan struct{} { return nil }

// StaticHealth is a health view set by hand: every cluster is up unless
// Set down. Tests drive failover with it.
type StaticHealth struct {
	mu      sync.Mutex
	down    map[string]bool
	changed chan struct{}
}

var _ Health = (*StaticHealth)(nil)

// NewStaticHealth returns a view with the given clusters down.
func NewStaticHealth(down ...string) *StaticHealth {
	h := &StaticHealth{down: map[string]bool{}, changed: make(chan struct{})}
	for _, c := range down {
		h.down[c] = true
	}
	return h
}

// Up reports whether the cluster is up.
func (h *StaticHealth) Up(cluster string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.down[cluster]
}

// Set marks a cluster up or down.
func (h *StaticHealth) Set(cluster string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down[cluster] == !up {
		return
	}
	if up {
		delete(h.down, cluster)
	} else {
		h.down[cluster] = true
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// Changed returns a channel closed at the next Set that changes something.
func (h *StaticHealth) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}
