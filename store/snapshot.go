package store

import (
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// SnapshotPage is one page of a full-state transfer to a peer that fell
// behind the retained log. Pages cover consecutive ranges of (table, key).
type SnapshotPage struct {
	// Summary is the sender's summary as of this page. The receiver keeps
	// the first page's summary (S) for the whole transfer.
	Summary Summary
	After   string // the cursor this page starts after ("" = the beginning)
	Last    string // the cursor of the page's last record
	Done    bool   // the page runs to the end of the store
	Records []*Record
}

// Cursor returns the position of a record in a snapshot transfer.
func Cursor(table, key string) string { return string(indexKey(table, key)) }

// ReadSnapshot returns the records of the wanted tables after cursor, up
// to about maxBytes. Deleted records are included (their tombstones keep
// older versions from coming back).
func (s *Store) ReadSnapshot(tables func(string) bool, after string, maxBytes int) (*SnapshotPage, error) {
	p := &SnapshotPage{After: after}
	err := s.View(func(sn *Snapshot) error {
		var err error
		if p.Summary, err = sn.Summary(); err != nil {
			return err
		}
		size := 0
		afterTable, afterKey := splitIndexKey([]byte(after))
		for _, t := range sn.Tables() {
			if !tables(t) || (after != "" && t < afterTable) {
				continue
			}
			b, _ := tableBucket(sn.tx, t, false)
			c := b.Cursor()
			k, v := c.First()
			if after != "" && t == afterTable {
				k, v = c.Seek([]byte(afterKey))
				if k != nil && string(k) == afterKey {
					k, v = c.Next()
				}
			}
			for ; k != nil; k, v = c.Next() {
				if size >= maxBytes {
					return nil
				}
				r, err := sn.s.decodeRecord(t, string(k), v)
				if err != nil {
					return err
				}
				p.Records = append(p.Records, r)
				p.Last = Cursor(t, string(k))
				size += len(v) + len(k)
			}
		}
		p.Done = true
		return nil
	})
	return p, err
}

// MergeSnapshot merges one page of a peer's snapshot, taken when the peer's
// summary was S: versions this replica has not seen are added; local
// versions the peer has seen (at or below S) but no longer holds were
// superseded there and are removed. After the last page the summary rises
// to S; the changes it skipped are not in this replica's log, so the
// pruned marks rise too (a peer pulling from here past them needs a
// snapshot from here).
func (s *Store) MergeSnapshot(ctx context.Context, p *SnapshotPage, S Summary, f TableFilter) error {
	return s.do(ctx, func(tx *bolt.Tx, st *txState) error { return st.mergeSnapshot(tx, p, S, f.matcher(s.site)) })
}

// TableFilter says which tables a snapshot transfer covers: the
// enterprise-wide ones when "" is in Scopes (or Scopes is empty), and the
// site-only ones (SiteOnly) when this replica's site is in Scopes. It is
// plain data so that a Raft log entry can carry it.
type TableFilter struct {
	Scopes   []string
	SiteOnly []string
}

func (f TableFilter) matcher(site string) func(string) bool {
	return func(t string) bool {
		if slices.Contains(f.SiteOnly, t) {
			return site != "" && slices.Contains(f.Scopes, site)
		}
		return len(f.Scopes) == 0 || slices.Contains(f.Scopes, "")
	}
}

func (st *txState) mergeSnapshot(tx *bolt.Tx, p *SnapshotPage, S Summary, tables func(string) bool) error {
	{
		incoming := map[string]*Record{}
		for _, r := range p.Records {
			incoming[Cursor(r.Table, r.Key)] = r
		}
		inRange := func(cur string) bool {
			return cur > p.After && (p.Done || cur <= p.Last)
		}
		// Local records in the page's range, present in the page or not.
		seen := map[string]bool{}
		tb := tx.Bucket(bTables)
		err := tb.ForEachBucket(func(name []byte) error {
			t := string(name)
			if !tables(t) {
				return nil
			}
			b := tb.Bucket(name)
			return b.ForEach(func(k, v []byte) error {
				cur := Cursor(t, string(k))
				if !inRange(cur) {
					return nil
				}
				seen[cur] = true
				old, err := st.s.decodeRecord(t, string(k), v)
				if err != nil {
					return err
				}
				return st.mergeRecord(tx, b, old, incoming[cur], S)
			})
		})
		if err != nil {
			return err
		}
		for cur, r := range incoming {
			if seen[cur] || !inRange(cur) || !tables(r.Table) {
				continue
			}
			b, err := tableBucket(tx, r.Table, true)
			if err != nil {
				return err
			}
			if err := st.mergeRecord(tx, b, nil, r, S); err != nil {
				return err
			}
		}
		if p.Done {
			for stream, seq := range S {
				if seq > st.seq(stream) {
					st.summary[stream] = seq
					if seq > st.prunedSeq(stream) {
						st.pruned[stream] = seq
					}
				}
			}
		}
		return nil
	}
}

// mergeRecord merges the peer's state of one record into the local one.
func (st *txState) mergeRecord(tx *bolt.Tx, b *bolt.Bucket, local, remote *Record, S Summary) error {
	var keep []Version
	var table, key string
	if local != nil {
		table, key = local.Table, local.Key
		for _, v := range local.Versions {
			if !S.Covers(v.Dot) || (remote != nil && hasDot(remote.Versions, v.Dot)) {
				keep = append(keep, v)
			}
		}
	}
	if remote != nil {
		table, key = remote.Table, remote.Key
		for _, v := range remote.Versions {
			if v.Dot.Seq > st.seq(v.Dot.Stream) && !hasDot(keep, v.Dot) {
				keep = append(keep, v)
				if v.HLC > st.hlc {
					st.hlc = v.HLC
				}
			}
		}
	}
	sortVersions(keep)
	graph, err := mergeGraphs(local, remote)
	if err != nil {
		return fmt.Errorf("store: record %s/%s: %w", table, key, err)
	}
	if local != nil && slices.EqualFunc(local.Versions, keep, func(a, b Version) bool { return a.Dot == b.Dot }) && len(graph) == local.graphLen() {
		return nil
	}
	merged := &Record{Table: table, Key: key, Versions: keep, Graph: graph}
	if local != nil {
		merged.History = local.History
		// A local version the sender superseded keeps its values in the
		// graph, as when a change supersedes it here.
		if err := noteChange(merged, &Change{Table: table}, local.Versions, keep); err != nil {
			return err
		}
	}
	return st.putRecord(tx, b, local, merged)
}

// mergeGraphs returns the union of two records' change graphs (a node
// that kept its values preferred).
func mergeGraphs(a, b *Record) ([]Node, error) {
	var out []Node
	for _, r := range []*Record{a, b} {
		if r == nil {
			continue
		}
		g, err := r.nodes()
		if err != nil {
			return nil, err
		}
		for _, n := range g {
			i := slices.IndexFunc(out, func(o Node) bool { return o.Dot == n.Dot })
			switch {
			case i < 0:
				out = append(out, n)
			case out[i].Value == nil && n.Value != nil:
				out[i] = n
			}
		}
	}
	return out, nil
}

func hasDot(vs []Version, d Dot) bool {
	for _, v := range vs {
		if v.Dot == d {
			return true
		}
	}
	return false
}
