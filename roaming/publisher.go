package roaming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/backoff"
	"github.com/pbxtopo/pbxtopo/store"
)

// PublisherConfig configures the DUNDi publisher of one cluster.
type PublisherConfig struct {
	// Cluster is the cluster whose files are written (the agent's own).
	Cluster string
	// Dir is where the files go: IncludeDir of Asterisk's configuration
	// directory, e.g. /etc/asterisk/pbxtopo.
	Dir string
	// Debounce is how long to wait after a change for more changes before
	// writing (an import of 10,000 extensions writes once).
	Debounce time.Duration
	// Retry is the first wait before a publish that could not reach
	// Asterisk is tried again; it doubles up to 5 minutes.
	Retry time.Duration
	DUNDi DUNDiConfig
}

// DefaultPublisherConfig returns the defaults for a cluster and directory.
func DefaultPublisherConfig(cluster, dir string) PublisherConfig {
	return PublisherConfig{Cluster: cluster, Dir: dir, Debounce: time.Second, Retry: 5 * time.Second, DUNDi: DefaultDUNDiConfig()}
}

// Validate checks the settings.
func (c PublisherConfig) Validate() error {
	switch {
	case c.Cluster == "":
		return fmt.Errorf("%w: the DUNDi publisher needs the cluster name", ErrBadRequest)
	case c.Dir == "":
		return fmt.Errorf("%w: the DUNDi publisher needs a directory (dundi.dir)", ErrBadRequest)
	case c.Debounce < 0 || c.Retry < 0:
		return fmt.Errorf("%w: DUNDi debounce %v and retry %v must not be negative", ErrBadRequest, c.Debounce, c.Retry)
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

// Outcome is what one publish did.
type Outcome struct {
	Time    time.Time `json:"time"`
	Version Version   `json:"version"` // the store state the files come from
	// Result: OK (files changed and Asterisk loaded them), UNCHANGED,
	// FAILED, or WRITTEN (files changed; nothing asked Asterisk to load
	// them).
	Result  string   `json:"result"`
	Changed []string `json:"changed,omitempty"` // the files written
	Detail  string   `json:"detail,omitempty"`  // what failed and what to do
}

// The results of a publish.
const (
	PublishOK        = "OK"
	PublishUnchanged = "UNCHANGED"
	PublishFailed    = "FAILED"
	PublishWritten   = "WRITTEN"
)

// PublisherDeps are the publisher's collaborators.
type PublisherDeps struct {
	Store  Source
	Logger *slog.Logger
	// Apply, when set, puts each new bundle in place instead of the
	// publisher writing it into Dir: the agent applies it to its Asterisk
	// through AMI (backups, reload, back-out). An error means Asterisk
	// could not be asked (not connected): the same bundle is tried again
	// after Retry. A FAILED outcome is not retried before the store
	// changes again: Asterisk would refuse the same files the same way.
	Apply func(ctx context.Context, b *Bundle) (Outcome, error)
}

// Publisher keeps one cluster's DUNDi files in step with the store.
type Publisher struct {
	cfg  PublisherConfig
	deps PublisherDeps
	log  *slog.Logger
	mu   sync.Mutex // one publish at a time

	lmu  sync.Mutex
	last *Outcome
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

// Last returns the outcome of the latest publish, nil before the first.
func (p *Publisher) Last() *Outcome {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if p.last == nil {
		return nil
	}
	o := *p.last
	return &o
}

// Publish generates the files from the store now and puts those that
// changed in place (Apply, else written into Dir). The error is one
// worth retrying: Apply could not reach Asterisk.
func (p *Publisher) Publish(ctx context.Context) (*Bundle, Outcome, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b *Bundle
	var version Version
	err := p.deps.Store.View(func(sn *store.Snapshot) error {
		version, _ = StoreVersion(sn)
		e, err := Load(sn, DefaultConfig().Policy)
		if err != nil {
			return err
		}
		b, err = NewBundle(e, p.cfg.Cluster, p.cfg.DUNDi)
		return err
	})
	if err != nil {
		out := Outcome{Time: time.Now(), Version: version, Result: PublishFailed, Detail: err.Error()}
		level := slog.LevelError
		if errors.Is(err, ErrUnknownCluster) {
			level = slog.LevelWarn // not replicated here yet
		}
		p.log.Log(ctx, level, "DUNDi files not generated", "err", err)
		p.record(out)
		return nil, out, nil
	}
	var out Outcome
	if p.deps.Apply != nil {
		out, err = p.deps.Apply(ctx, b)
	} else {
		out.Changed, err = WriteBundle(p.cfg.Dir, b)
		out.Result = PublishWritten
		if len(out.Changed) == 0 {
			out.Result = PublishUnchanged
		}
		if err != nil {
			out.Result, out.Detail, err = PublishFailed, err.Error(), nil
		}
	}
	out.Time, out.Version = time.Now(), b.Version
	if err != nil {
		out.Result, out.Detail = PublishFailed, err.Error()
	}
	p.record(out)
	switch {
	case out.Result == PublishFailed:
		p.log.Error("DUNDi files not published", "dir", p.cfg.Dir, "version", b.Version.Summary, "detail", out.Detail)
	case len(out.Changed) > 0:
		p.log.Info("DUNDi files published", "dir", p.cfg.Dir, "files", out.Changed, "result", out.Result,
			"numbers", b.Numbers, "peers", len(b.Peers), "version", b.Version.Summary)
	}
	return b, out, err
}

func (p *Publisher) record(o Outcome) {
	p.lmu.Lock()
	p.last = &o
	p.lmu.Unlock()
}

// Run publishes at once and again whenever the store's records change,
// until ctx ends. Commits that change no record (status) and publishes of
// the store version already published are skipped; a publish that could
// not reach Asterisk is retried with backoff.
func (p *Publisher) Run(ctx context.Context) error {
	published := "" // the store version last put in place (or judged)
	var retry <-chan time.Time
	wait := backoff.Backoff{Min: p.cfg.Retry, Max: 5 * time.Minute}
	for {
		changed := p.deps.Store.Changed() // before reading, so no change is missed
		var version string
		p.deps.Store.View(func(sn *store.Snapshot) error {
			v, err := StoreVersion(sn)
			version = v.Summary
			return err
		})
		if version == "" || version != published || retry != nil {
			retry = nil
			_, out, err := p.Publish(ctx)
			if err != nil && ctx.Err() == nil {
				retry = time.After(wait.Next())
			} else {
				published = out.Version.Summary
				wait.Reset()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-retry:
			continue
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
