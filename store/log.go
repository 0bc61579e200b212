package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Batch is what a peer asked for: the changes it lacks, in this replica's
// log order (which respects causality), whole transactions only.
type Batch struct {
	Changes []*Change
	// More is set when the byte limit cut the batch short.
	More bool
	// NeedSnapshot is set when some change the peer lacks is no longer in
	// the log; the peer must take a snapshot instead.
	NeedSnapshot bool
	// Summary is this replica's summary when the batch was read.
	Summary Summary
}

// ChangesSince returns the changes of the wanted streams that a peer whose
// summary is have lacks, up to about maxBytes of encoded changes (a single
// transaction larger than that is returned whole).
func (s *Store) ChangesSince(have Summary, want func(Stream) bool, maxBytes int) (*Batch, error) {
	out := &Batch{}
	err := s.View(func(sn *Snapshot) error {
		mine, err := sn.Summary()
		if err != nil {
			return err
		}
		out.Summary = mine
		pruned, err := loadSummary(sn.tx.Bucket(bPruned))
		if err != nil {
			return err
		}
		dots := sn.tx.Bucket(bDots)
		start := uint64(0)
		for st, seq := range mine {
			if seq <= have[st] || !want(st) {
				continue
			}
			if have[st] < pruned[st] {
				out.NeedSnapshot = true
				return nil
			}
			lsn := dots.Get(dotKey(Dot{st, have[st] + 1}))
			if lsn == nil {
				return fmt.Errorf("store: change %s:%d is in the summary but not in the log: %w", st, have[st]+1, ErrCorrupt)
			}
			if l := getU64(lsn); start == 0 || l < start {
				start = l
			}
		}
		if start == 0 {
			return nil
		}
		size := 0
		c := sn.tx.Bucket(bLog).Cursor()
		for k, v := c.Seek(u64(start)); k != nil; k, v = c.Next() {
			_, ch, err := s.decodeLogEntryOpen(v)
			if err != nil {
				return fmt.Errorf("store: log entry %d: %w", getU64(k), err)
			}
			if ch.Dot.Seq <= have[ch.Dot.Stream] || !want(ch.Dot.Stream) {
				continue
			}
			// Stop only between transactions.
			if size >= maxBytes && ch.Dot.Seq == ch.TxSeq {
				out.More = true
				break
			}
			out.Changes = append(out.Changes, ch)
			size += len(v)
		}
		return nil
	})
	return out, err
}

// PruneLog removes the oldest log entries that are both older than
// olderThan and covered by safe (the summaries of every replica that pulls
// from this one; nil means no replica needs them), and any beyond
// MaxLogEntries. History of those changes goes with them. It returns how
// many entries it removed.
func (s *Store) PruneLog(ctx context.Context, olderThan time.Time, safe Summary) (int, error) {
	total := 0
	for {
		n := 0
		err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
			var err error
			n, err = st.prune(tx, olderThan, safe)
			return err
		})
		total += n
		if err != nil || n < PruneRound {
			return total, err
		}
	}
}

// PruneRound bounds the log entries one transaction removes.
const PruneRound = 10000

// prune removes up to PruneRound of the oldest log entries (see PruneLog).
func (st *txState) prune(tx *bolt.Tx, olderThan time.Time, safe Summary) (int, error) {
	s := st.s
	n := 0
	logB, dots := tx.Bucket(bLog), tx.Bucket(bDots)
	c := logB.Cursor()
	// LSNs are dense and only the oldest go, so the log holds
	// last-first+1 entries.
	count := 0
	if k, _ := c.Last(); k != nil {
		f, _ := c.First()
		count = int(getU64(k) - getU64(f) + 1)
	}
	for k, v := c.First(); k != nil && n < PruneRound; k, v = c.First() {
		_, ch, err := decodeLogEntry(v)
		if err != nil {
			return n, fmt.Errorf("store: log entry %d: %w", getU64(k), err)
		}
		// Age by the change's timestamp, not by when it was applied here:
		// every node of a Raft cluster then prunes the same entries.
		old := ch.HLC.Time().Before(olderThan) && (safe == nil || safe.Covers(ch.Dot))
		if !old && count-n <= s.cfg.MaxLogEntries {
			break
		}
		if err := c.Delete(); err != nil {
			return n, err
		}
		if err := dots.Delete(dotKey(ch.Dot)); err != nil {
			return n, err
		}
		if ch.Dot.Seq > st.prunedSeq(ch.Dot.Stream) {
			st.pruned[ch.Dot.Stream] = ch.Dot.Seq
		}
		n++
	}
	if k, _ := c.First(); k != nil {
		st.first = getU64(k)
	} else {
		st.first = st.lsn + 1
	}
	return n, nil
}

func (st *txState) prunedSeq(stream Stream) uint64 {
	if v, ok := st.pruned[stream]; ok {
		return v
	}
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	return st.s.pruned[stream]
}

// PurgeTombstones removes deleted records whose tombstone every replica
// has seen and that no concurrent version can still reach. horizon is what
// every replica had applied (the minimum of their watermarks), ceiling what
// any of them had (the maximum). A version concurrent with a tombstone was
// written before its replica saw the tombstone, so it is below that
// replica's watermark, below the ceiling: once this replica has the
// ceiling, such a version is here, the record is in conflict, and it is
// kept. Until then nothing is purged (it is too early, not an error).
//
// A late copy of an older version cannot bring a purged record back: its
// dot is below the summary and is dropped as a duplicate. The horizon is
// kept: a later write that creates the record anew carries it, so replicas
// that have not purged yet drop the tombstone too (see Change.Horizon). It
// returns how many records it removed.
func (s *Store) PurgeTombstones(ctx context.Context, horizon, ceiling Summary) (int, error) {
	n := 0
	err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
		var err error
		n, err = st.purge(tx, horizon, ceiling)
		return err
	})
	return n, err
}

func (st *txState) purge(tx *bolt.Tx, horizon, ceiling Summary) (int, error) {
	covered := horizon.Covers
	n := 0
	err := func() error {
		for stream, seq := range ceiling {
			if st.seq(stream) < seq {
				return nil // a concurrent version may still be on its way
			}
		}
		tombs := tx.Bucket(bTombs)
		var purge [][]byte
		err := tombs.ForEach(func(k, _ []byte) error {
			table, key := splitIndexKey(k)
			b, _ := tableBucket(tx, table, false)
			r, err := st.s.loadRecord(b, table, key)
			if err != nil || r == nil {
				return err
			}
			if tombstone(r) && !slices.ContainsFunc(r.Versions, func(v Version) bool { return !covered(v.Dot) }) {
				purge = append(purge, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := st.setHorizon(tx, horizon); err != nil {
			return err
		}
		if err := st.compactGraphs(tx, covered); err != nil {
			return err
		}
		for _, k := range purge {
			table, key := splitIndexKey(k)
			b, _ := tableBucket(tx, table, false)
			if err := b.Delete([]byte(key)); err != nil {
				return err
			}
			if err := tombs.Delete(k); err != nil {
				return err
			}
			if err := tx.Bucket(bGraphs).Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	}()
	return n, err
}

// compactGraphs drops the change graph of every record that is quiet
// again: one live version, no conflict, seen by every replica (covered by
// the horizon, the ceiling held: no concurrent change is still on its
// way). Such a record costs one dot, as before field-level merge.
func (st *txState) compactGraphs(tx *bolt.Tx, covered func(Dot) bool) error {
	idx := tx.Bucket(bGraphs)
	var quiet [][]byte
	err := idx.ForEach(func(k, _ []byte) error {
		table, key := splitIndexKey(k)
		b, _ := tableBucket(tx, table, false)
		r, err := st.s.loadRecord(b, table, key)
		if err != nil || r == nil {
			return err
		}
		if len(r.Versions) == 1 && !r.Conflict() && covered(r.Versions[0].Dot) {
			quiet = append(quiet, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range quiet {
		table, key := splitIndexKey(k)
		b, _ := tableBucket(tx, table, false)
		r, err := st.s.loadRecord(b, table, key)
		if err != nil {
			return err
		}
		compact := *r
		compact.dropGraph()
		if err := st.putRecord(tx, b, r, &compact); err != nil {
			return err
		}
	}
	return nil
}

// setHorizon raises the stored horizon to h (it never goes back).
func (st *txState) setHorizon(tx *bolt.Tx, h Summary) error {
	merged := st.currentHorizon()
	if merged == nil {
		merged = Summary{}
	}
	for k, v := range h {
		if v > merged[k] {
			merged[k] = v
		}
	}
	st.horizon = merged
	return tx.Bucket(bMeta).Put(kHorizon, AppendSummary(nil, merged))
}

// currentHorizon returns a copy of the horizon as of this transaction.
func (st *txState) currentHorizon() Summary {
	if st.horizon != nil {
		return st.horizon.Clone()
	}
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if len(st.s.horizon) == 0 {
		return nil
	}
	return st.s.horizon.Clone()
}
