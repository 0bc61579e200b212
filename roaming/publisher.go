package roaming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// PublisherConfig configures the DUNDi publisher of one cluster.
type PublisherConfig struct {
	// Cluster is the cluster whose files are written (the agent's own).
	Cluster string
	// Dir is where the files go, e.g. /etc/asterisk/pbxtopo.
	Dir string
	// Debounce is how long to wait after a change for more changes before
	// writing (an import of 10,000 extensions writes once).
	Debounce time.Duration
	DUNDi    DUNDiConfig
}

// DefaultPublisherConfig returns the defaults for a cluster and directory.
func DefaultPublisherConfig(cluster, dir string) PublisherConfig {
	return PublisherConfig{Cluster: cluster, Dir: dir, Debounce: time.Second, DUNDi: DefaultDUNDiConfig()}
}

// Validate checks the settings.
func (c PublisherConfig) Validate() error {
	switch {
	case c.Cluster == "":
		return fmt.Errorf("%w: the DUNDi publisher needs the cluster name", ErrBadRequest)
	case c.Dir == "":
		return fmt.Errorf("%w: the DUNDi publisher needs a directory (dundi.dir)", ErrBadRequest)
	case c.Debounce < 0:
		return fmt.Errorf("%w: DUNDi debounce %v is negative", ErrBadRequest, c.Debounce)
	}
	return c.DUNDi.Validate()
}

// Source is what the publisher reads: the store (the agent passes its
// *store.Store).
type Source interface {
	View(fn func(*store.Snapshot) error) error
	// Changed returns a channel closed at the next commit.
	Changed() <-chan struct{}
}

var _ Source = (*store.Store)(nil)

// PublisherDeps are the publisher's collaborators.
type PublisherDeps struct {
	Store  Source
	Logger *slog.Logger
	// Published, when set, is called after files changed on disk, with
	// their names: the place to reload Asterisk (AMI "module reload
	// pbx_dundi.so", "dialplan reload", "iax2 reload"). It must not block
	// for long.
	Published func(ctx context.Context, b *Bundle, changed []string)
}

// Publisher keeps one cluster's DUNDi files in step with the store.
type Publisher struct {
	cfg  PublisherConfig
	deps PublisherDeps
	log  *slog.Logger
	mu   sync.Mutex // one publish at a time
}

// NewPublisher returns a publisher; Run starts it.
func NewPublisher(cfg PublisherConfig, deps PublisherDeps) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("%w: the DUNDi publisher needs a store", ErrBadRequest)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, deps: deps, log: log.With("subsystem", "dundi")}, nil
}

// Publish generates the files from the store now and writes those that
// changed.
func (p *Publisher) Publish(ctx context.Context) (*Bundle, []string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b *Bundle
	err := p.deps.Store.View(func(sn *store.Snapshot) error {
		e, err := Load(sn, DefaultConfig().Policy)
		if err != nil {
			return err
		}
		b, err = NewBundle(e, p.cfg.Cluster, p.cfg.DUNDi)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	changed, err := WriteBundle(p.cfg.Dir, b)
	if err != nil {
		return b, changed, err
	}
	if len(changed) > 0 {
		p.log.Info("DUNDi files written", "dir", p.cfg.Dir, "files", changed, "numbers", b.Numbers, "peers", len(b.Peers), "version", b.Version.Summary)
		if p.deps.Published != nil {
			p.deps.Published(ctx, b, changed)
		}
	}
	return b, changed, nil
}

// Run publishes at once and again after every change to the store, until
// ctx ends. A failed publish is logged and retried at the next change.
func (p *Publisher) Run(ctx context.Context) error {
	for {
		changed := p.deps.Store.Changed() // before reading, so no change is missed
		if _, _, err := p.Publish(ctx); err != nil {
			level := slog.LevelError
			if errors.Is(err, ErrUnknownCluster) {
				level = slog.LevelWarn // not replicated here yet
			}
			p.log.Log(ctx, level, "DUNDi files not written", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		if p.cfg.Debounce > 0 {
			t := time.NewTimer(p.cfg.Debounce)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}
