package mysql

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

// Store is what the bridge needs of the store.
type Store interface {
	View(fn func(*store.Snapshot) error) error
	WriteLocal(ctx context.Context, author string, muts []store.Mutation, local map[string][]byte) (store.WriteResult, error)
	ChangesSince(have store.Summary, want func(store.Stream) bool, maxBytes int) (*store.Batch, error)
	Changed() <-chan struct{}
	Replica() string
}

var _ Store = (*store.Store)(nil)

// Bridge keeps one MySQL/MariaDB realtime database and the store in step:
// binlog rows in, other changes out as SQL.
type Bridge struct {
	cfg     Config
	dsn     DSN
	tables  []*TableMap
	st      Store
	log     *slog.Logger
	cluster string

	dirty chan string // hold keys whose echo differs from the winner

	mu     sync.Mutex
	status BridgeStatus
}

// New checks cfg and returns a bridge; Run starts it.
func New(cfg Config, deps Deps) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	}
	d, _ := ParseDSN(cfg.DSN)
	m, _ := LookupMapping(cfg.Mapping)
	tables, _ := m.Select(cfg.Tables)
	lg := deps.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{cfg: cfg, dsn: d, tables: tables, st: deps.Store, cluster: deps.Store.Replica(),
		log: lg.With("subsystem", "mysql", "dsn", d.String()), dirty: make(chan string, 4096)}
	b.status = BridgeStatus{State: StateStopped, DSN: d.String(), Mapping: cfg.Mapping}
	for _, t := range tables {
		b.status.Tables = append(b.status.Tables, t.Name)
	}
	return b, nil
}

// Run follows the binlog and applies other changes to MySQL until ctx
// ends; it then returns nil. Failures (MySQL down, network drop, DDL,
// unmappable rows) are retried with backoff from the stored checkpoint and
// reported in Status. Run one bridge per cluster: on the Raft leader.
func (b *Bridge) Run(ctx context.Context) error {
	defer b.setState(StateStopped, nil)
	ready := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		b.retry(ctx, "binlog", func(ctx context.Context) error { return b.runInbound(ctx, ready) })
	}()
	go func() {
		defer wg.Done()
		select {
		case <-ready:
		case <-ctx.Done():
			return
		}
		b.retry(ctx, "sql", b.runOutbound)
	}()
	wg.Wait()
	return nil
}

// retry runs fn until ctx ends, waiting with exponential backoff after
// each failure; a run that lasted a minute resets the backoff.
func (b *Bridge) retry(ctx context.Context, side string, fn func(context.Context) error) {
	retry := backoff.Backoff{Min: b.cfg.MinBackoff, Max: b.cfg.MaxBackoff}
	for ctx.Err() == nil {
		start := time.Now()
		err := fn(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errResync) {
			continue
		}
		if err == nil {
			err = errors.New("stopped")
		}
		if time.Since(start) > time.Minute {
			retry.Reset()
		}
		wait := retry.Next()
		b.fail(side, err, wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (b *Bridge) fail(side string, err error, wait time.Duration) {
	b.mu.Lock()
	b.status.LastError = side + ": " + err.Error()
	b.status.LastErrorAt = time.Now()
	b.status.Reconnects++
	if side == "binlog" {
		b.status.State = StateRetrying
		if errors.Is(err, ErrUnmappable) || errors.Is(err, ErrServer) || errors.Is(err, ErrSchemaChanged) {
			b.status.State = StateBlocked
		}
	}
	b.mu.Unlock()
	b.log.Warn("mysql bridge failed, retrying", "side", side, "err", err, "retry_in", wait)
}
