package raftstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/pbxtopo/pbxtopo/store"
)

// fsm applies committed entries to the store, in log order, each exactly
// once. It never skips an entry and never panics: an entry it cannot open,
// decode or write stops it on that entry (it retries, since a full disk
// may get room again), the node reports why, and nothing after the entry
// is applied until it is, so the store is always the cluster's state at
// some index.
type fsm struct {
	st     *store.Store
	sealer EntrySealer
	log    *slog.Logger
	// applied is the index of the last command entry in the store: reads
	// that must see a write wait for it (raft's own AppliedIndex counts
	// entries handed to the FSM, not applied).
	applied atomic.Uint64
	stop    chan struct{} // closed when the node shuts down: a stuck apply gives up
	// onStall is told once when applying stops (the node steps down).
	onStall func(error)

	mu      sync.Mutex
	stalled error // why applying stopped; nil while it runs
}

func newFSM(st *store.Store, sealer EntrySealer, log *slog.Logger, onStall func(error)) *fsm {
	f := &fsm{st: st, sealer: sealer, log: log, stop: make(chan struct{}), onStall: onStall}
	f.applied.Store(st.RaftIndex())
	return f
}

// Stalled returns why this node stopped applying the log, or nil.
func (f *fsm) Stalled() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stalled
}

type fsmResponse struct {
	results []store.OpResult
	err     error
}

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies the ops of several entries in one store transaction
// (one fsync), in log order, recording the last index.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if err := f.Stalled(); err != nil {
		return fill(out, err) // only on the way down: see stall
	}
	var ops []store.Op
	var owner []int // entry of each op
	var last uint64
	applied := f.applied.Load()
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if l.Index <= applied {
			// Replayed after a restart: the store holds it already and
			// skips it, so it need not be opened (its key may be gone
			// after a rotation).
			out[i] = fsmResponse{}
			continue
		}
		entryOps, err := f.decode(l)
		if err != nil {
			// Apply what came before it, then stop on it for good: a node
			// that cannot read an entry must not pass it.
			if last > 0 {
				if res, err := f.write(last, ops); err == nil {
					spread(out, logs[:i], owner, res)
				} else {
					return fill(out, err)
				}
			}
			f.stall(err, false)
			return fill(out, err)
		}
		last = l.Index
		for range entryOps {
			owner = append(owner, i)
		}
		ops = append(ops, entryOps...)
	}
	if last == 0 {
		return fill(out, nil)
	}
	res, err := f.write(last, ops)
	if err != nil {
		return fill(out, err)
	}
	spread(out, logs, owner, res)
	return out
}

// decode opens and decodes one entry.
func (f *fsm) decode(l *raft.Log) ([]store.Op, error) {
	data, err := openEntry(f.sealer, l.Data)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", l.Index, err)
	}
	ops, err := store.DecodeOps(data)
	if err != nil {
		return nil, fmt.Errorf("entry %d cannot be read by this pbxtopo (%w): upgrade this node", l.Index, err)
	}
	return ops, nil
}

// write applies ops up to index, retrying while the store cannot write
// (the node is stalled meanwhile, then runs again).
func (f *fsm) write(index uint64, ops []store.Op) ([]store.OpResult, error) {
	delay := 100 * time.Millisecond
	for {
		res, err := f.st.ApplyOps(context.Background(), index, ops)
		if err == nil {
			f.applied.Store(index)
			f.resume()
			return res, nil
		}
		f.stall(fmt.Errorf("the store could not apply entries up to %d: %w", index, err), true)
		select {
		case <-f.stop:
			return nil, f.Stalled()
		case <-time.After(delay):
			delay = min(2*delay, 5*time.Second)
		}
	}
}

// stall records why applying stopped. A transient stall (the store may
// write again) ends at the next successful write; until then, and for
// good otherwise, the node reports it and steps down.
func (f *fsm) stall(err error, transient bool) {
	f.mu.Lock()
	first := f.stalled == nil
	f.stalled = fmt.Errorf("%w: %w", ErrStalled, err)
	f.mu.Unlock()
	if first {
		f.log.Error("raft: this node stopped applying the cluster's log", "err", err, "retrying", transient)
		if f.onStall != nil {
			f.onStall(err)
		}
	}
}

func (f *fsm) resume() {
	f.mu.Lock()
	was := f.stalled
	f.stalled = nil
	f.mu.Unlock()
	if was != nil {
		f.log.Info("raft: this node applies the cluster's log again")
	}
}

// fill answers every entry not answered yet with err.
func fill(out []any, err error) []any {
	for i := range out {
		if out[i] == nil {
			out[i] = fsmResponse{err: err}
		}
	}
	return out
}

func spread(out []any, logs []*raft.Log, owner []int, res []store.OpResult) {
	per := map[int][]store.OpResult{}
	for j, r := range res {
		per[owner[j]] = append(per[owner[j]], r)
	}
	for i, l := range logs {
		if l.Type == raft.LogCommand && out[i] == nil {
			out[i] = fsmResponse{results: per[i]}
		}
	}
}

// Snapshot hands Raft the store: its copy is consistent and records the
// last applied index, so a restore followed by a replay skips what the copy
// already holds. A stalled node takes none: Raft would record an index
// its store does not hold.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.Stalled(); err != nil {
		return nil, err
	}
	return snapshot{f.st}, nil
}

// Restore installs the leader's snapshot, unless the store already holds
// as much (store.Restore never goes back in time).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	restored, err := f.st.Restore(rc)
	if err != nil {
		return err
	}
	if restored {
		f.applied.Store(f.st.RaftIndex())
	}
	return nil
}

type snapshot struct{ st *store.Store }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.st.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}

func encodeOps(ops []store.Op) ([]byte, error) { return store.AppendOps(nil, ops), nil }
