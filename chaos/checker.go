package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pbxtopo/pbxtopo/store"
)

// Converged reports whether every live replica holds the same data in
// every scope it shares with another: equal summaries of the shared
// streams and equal table digests. The reason says what still differs.
func (s *Sim) Converged() (bool, string) {
	var views []replicaView
	for _, n := range s.nodes {
		if !n.live() {
			return false, n.name + " is down"
		}
		views = append(views, replicaView{name: n.name, site: n.site, st: n.st, siteOnly: n.rep.SiteOnly})
	}
	return converged(views)
}

// replicaView is one store to compare: a replica of the simulation, or
// one node of a live cluster.
type replicaView struct {
	name, site string
	st         *store.Store
	siteOnly   func(table string) bool
}

// converged compares every pair of stores in every scope both hold.
func converged(replicas []replicaView) (bool, string) {
	type view struct {
		sum     store.Summary
		digests map[string]string // "table@scope" → root
	}
	views := make([]view, len(replicas))
	for i, r := range replicas {
		v := view{sum: r.st.Summary(), digests: map[string]string{}}
		err := r.st.View(func(sn *store.Snapshot) error {
			ds, err := sn.Digests()
			for t, d := range ds {
				scope := ""
				if r.siteOnly(t) {
					scope = r.site
				}
				v.digests[t+"@"+scope] = d.Root
			}
			return err
		})
		if err != nil {
			return false, fmt.Sprintf("%s: %v", r.name, err)
		}
		views[i] = v
	}
	zero := strings.Repeat("0", 32)
	for i, a := range replicas {
		for j := i + 1; j < len(replicas); j++ {
			b := replicas[j]
			va, vb := views[i], views[j]
			shared := func(st store.Stream) bool { return st.Scope() == "" || (a.site == b.site && st.Scope() == a.site) }
			for _, st := range unionStreams(va.sum, vb.sum) {
				if shared(st) && va.sum[st] != vb.sum[st] {
					return false, fmt.Sprintf("%s has %s:%d, %s has %d", a.name, st, va.sum[st], b.name, vb.sum[st])
				}
			}
			for k := range unionKeys(va.digests, vb.digests) {
				scope := k[strings.IndexByte(k, '@')+1:]
				if scope != "" && (a.site != b.site || scope != a.site) {
					continue
				}
				da, db := va.digests[k], vb.digests[k]
				if da == "" {
					da = emptyRoot
				}
				if db == "" {
					db = emptyRoot
				}
				if da != db && !(da == zero && db == zero) {
					return false, fmt.Sprintf("digest of %s differs between %s and %s", k, a.name, b.name)
				}
			}
		}
	}
	return true, ""
}

// emptyRoot is the digest root of a table without live records.
var emptyRoot = func() string {
	var d store.Digest
	return store.RootOf(d)
}()

func unionStreams(a, b store.Summary) []store.Stream {
	set := map[store.Stream]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	out := make([]store.Stream, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func unionKeys(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// Result is what the checkers found.
type Result struct {
	Acked             int
	Applied           int      // workload writes applied at some replica
	Lost              int      // acknowledged writes whose effect is gone
	Stale             int      // (replica, record) pairs that differ from the expected state
	ConflictsExpected int      // records where concurrent writes left several versions
	ConflictsFound    int      // records in conflict at the replicas
	Problems          []string // every violation, named
}

// OK reports whether every guarantee held.
func (r Result) OK() bool { return len(r.Problems) == 0 }

func (r *Result) problem(format string, args ...any) {
	if len(r.Problems) < 50 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Check compares the converged replicas with what the history says must
// be there (DESIGN.md guarantees 1, 3 and 5): the live versions of a record
// are exactly the writes no other write superseded, as the checker knows
// from what each client read before writing, not from the store's own
// bookkeeping. So an acknowledged write is present or superseded (lost =
// 0), a conflict exists if and only if writes were concurrent, a deleted
// record stays deleted unless a concurrent write keeps it, and duplicates
// had no second effect. It also runs every store's consistency check.
func (s *Sim) Check(h *History) Result {
	var res Result
	byID := map[int]*Write{}
	for _, w := range h.Writes {
		byID[w.ID] = w
		if w.Acked {
			res.Acked++
		}
	}
	// What was applied anywhere, from every replica's log: the dot each
	// write got (acknowledged or not: a write can commit and crash before
	// its answer).
	dots := map[int]store.Dot{}
	for _, n := range s.nodes {
		if err := n.st.Check(); err != nil {
			res.problem("%s: store inconsistent: %v", n.name, err)
		}
		b, err := n.st.ChangesSince(store.Summary{}, func(store.Stream) bool { return true }, 1<<40)
		if err != nil {
			res.problem("%s: read log: %v", n.name, err)
			continue
		}
		for _, c := range b.Changes {
			if id := writeID(c.Author); id > 0 {
				if d, ok := dots[id]; ok && d != c.Dot {
					res.problem("write w%d has two ids: %s and %s", id, d, c.Dot)
				}
				dots[id] = c.Dot
			}
		}
	}
	res.Applied = len(dots)
	for _, w := range h.Writes {
		if w.Acked {
			if d, ok := dots[w.ID]; !ok {
				res.Lost++
				res.problem("acknowledged write w%d (%s/%s at %s) is in no replica's log", w.ID, w.Table, w.Key, w.Node)
			} else if d != w.Dot {
				res.problem("write w%d acknowledged as %s but logged as %s", w.ID, w.Dot, d)
			}
		}
	}
	// The expected versions of each record: applied writes that no other
	// applied write superseded.
	type rk struct{ table, key string }
	applied := map[rk][]*Write{}
	for id, d := range dots {
		w := byID[id]
		if w == nil {
			res.problem("log holds unknown write w%d", id)
			continue
		}
		w.Dot = d
		applied[rk{w.Table, w.Key}] = append(applied[rk{w.Table, w.Key}], w)
	}
	keys := make([]rk, 0, len(applied))
	for k := range applied {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].table+keys[i].key < keys[j].table+keys[j].key })
	for _, k := range keys {
		ws := applied[k]
		superseded := map[store.Dot]bool{}
		for _, w := range ws {
			for _, d := range w.Read {
				superseded[d] = true
			}
		}
		// A write that found no record where its replica had seen a
		// tombstone comes after that tombstone was purged: it creates the
		// record anew and the tombstone is gone.
		purged := func(t *Write) bool {
			for _, w := range ws {
				if w != t && len(w.Read) == 0 && w.Seen.Covers(t.Dot) {
					return true
				}
			}
			return false
		}
		var live, tombs []int
		for _, w := range ws {
			if superseded[w.Dot] || w.Delete && purged(w) {
				continue
			}
			if w.Delete {
				tombs = append(tombs, w.ID)
			} else {
				live = append(live, w.ID)
			}
		}
		sort.Ints(live)
		if len(live)+len(tombs) > 1 {
			res.ConflictsExpected++
		}
		s.checkRecord(&res, k.table, k.key, live, tombs, byID)
	}
	return res
}

// checkRecord compares one record at every replica that holds its scope.
func (s *Sim) checkRecord(res *Result, table, key string, live, tombs []int, byID map[int]*Write) {
	var winner store.Dot
	counted := false
	for _, n := range s.nodes {
		if table == siteTable && !strings.HasPrefix(key, n.site+"/") {
			continue // another site's table
		}
		var rec *store.Record
		n.st.View(func(sn *store.Snapshot) error {
			var err error
			rec, err = sn.Get(table, key)
			return err
		})
		var gotLive, gotTombs []int
		if rec != nil {
			for _, v := range rec.Versions {
				if v.Deleted {
					gotTombs = append(gotTombs, writeID(v.Author))
				} else {
					gotLive = append(gotLive, writeID(v.Author))
				}
			}
			if winner.IsZero() {
				winner = rec.Winner().Dot
			} else if rec.Winner().Dot != winner {
				res.problem("%s/%s: winner at %s is %s, elsewhere %s", table, key, n.name, rec.Winner().Dot, winner)
			}
			if !counted && rec.Conflict() {
				res.ConflictsFound++
				counted = true
			}
		}
		sort.Ints(gotLive)
		if !slices.Equal(gotLive, live) {
			res.Stale++
			for _, id := range live {
				if !slices.Contains(gotLive, id) && byID[id].Acked {
					res.Lost++
				}
			}
			res.problem("%s/%s at %s: live versions %v, expected %v", table, key, n.name, ids(gotLive), ids(live))
		}
		for _, id := range gotTombs {
			if !slices.Contains(tombs, id) {
				res.Stale++
				res.problem("%s/%s at %s: tombstone w%d was superseded", table, key, n.name, id)
			}
		}
		// A tombstone may be purged once every replica saw it, but only
		// when nothing else remains.
		if len(gotTombs) < len(tombs) && len(live)+len(tombs) > 1 {
			res.Stale++
			res.problem("%s/%s at %s: tombstones %v purged while in conflict", table, key, n.name, ids(tombs))
		}
	}
}

func ids(v []int) string {
	parts := make([]string, len(v))
	for i, id := range v {
		parts[i] = fmt.Sprintf("w%d", id)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
