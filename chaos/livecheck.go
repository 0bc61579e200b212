package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// The live checker. Per acknowledged write and per slot (field of a
// record) it sets, the value must be, at every node once the network has
// healed and the nodes converged:
//
//   - present: the record's winner or one of its conflict siblings holds
//     it; or
//   - superseded, knowingly: another applied write set that slot and its
//     client knew the value: it read it, or read a later value whose
//     writer knew it, or (for writes that held the slot alone) it was
//     acknowledged before that write was sent.
//
// "Knew" comes from the clients' own record (what each read, when each
// was acknowledged), never from the store's version vectors: a store that
// merges a patch into a stale copy has vectors that say all is well.
//
// A move, a revert and a resolution set what the service computes; the
// checker takes their values from the change they made. A move carries
// the source's fields: it supersedes a value there only if what it
// carried is that value or a later one.
//
// Per node, the pollers check that what a client reads never goes back:
// a version once replaced does not come back, an older version of an
// origin does not appear after a newer one, and a record seen live does
// not read as absent unless a delete of it was sent.

// liveResult is what the live checker found.
type liveResult struct {
	Acked, Refused, Unknown int
	Applied                 int // operations whose change is in some log
	Lost                    int // (write, slot) pairs undone silently
	Regressions             int // reads that went back in time
	Conflicts               int // records in conflict at the end
	Problems                []string
}

func (r *liveResult) problem(format string, args ...any) {
	if len(r.Problems) < 60 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// checkLive checks the history against the converged nodes.
func checkLive(e *liveEnt, ops []*liveOp) liveResult {
	var res liveResult
	// Every change each operation made, from every node's log.
	logged := map[int][]*store.Change{}
	seen := map[store.Dot]bool{}
	for _, n := range e.nodes {
		p := n.parts.Load()
		if p == nil {
			res.problem("%s is down at the check", n.name)
			continue
		}
		if err := p.local.Check(); err != nil {
			res.problem("%s: store inconsistent: %v", n.name, err)
		}
		b, err := p.local.ChangesSince(store.Summary{}, func(store.Stream) bool { return true }, 1<<40)
		if err != nil {
			res.problem("%s: read the log: %v", n.name, err)
			continue
		}
		for _, c := range b.Changes {
			if id := writeID(c.Author); id > 0 && !seen[c.Dot] {
				seen[c.Dot] = true
				logged[id] = append(logged[id], c)
			}
		}
	}
	applied := map[int]bool{}
	for _, op := range ops {
		switch {
		case op.Acked:
			res.Acked++
		case op.Refused:
			res.Refused++
		case op.Code < 400 || op.Code >= 500: // no clear refusal: it may have been applied
			res.Unknown++
		}
		if len(logged[op.ID]) > 0 {
			res.Applied++
		}
		applied[op.ID] = op.Acked || len(logged[op.ID]) > 0
		if op.Acked && len(op.Versions) > 0 && len(logged[op.ID]) == 0 {
			res.Lost++
			res.problem("%s is in no node's log", op)
		}
		if op.FromLog {
			for _, c := range logged[op.ID] {
				var f pbx.Fields
				if !c.Deleted {
					f, _ = pbx.DecodeFields(c.Value)
				}
				for field, v := range versionValues(c.Deleted, f) {
					// A change that names its fields set only those; the
					// others it carried as they were.
					if c.Set != nil && !slices.Contains(c.Set, field) {
						continue
					}
					op.Sets[slot{c.Table, c.Key, field}] = v
				}
			}
		}
	}
	k := newKnowledge(ops, applied)
	// What every node holds, per slot.
	finals := make([]map[slot][]string, len(e.nodes))
	for i, n := range e.nodes {
		if p := n.parts.Load(); p != nil {
			finals[i] = finalValues(p.local, k.slots())
		}
	}
	if p := e.nodes[0].parts.Load(); p != nil {
		p.local.View(func(sn *store.Snapshot) error {
			return sn.Conflicts(func(r *store.Record) error {
				res.Conflicts++
				// Writes within one cluster are serialized by Raft: a
				// conflict needs sides from two clusters, and two values.
				for _, c := range r.Conflicts() {
					clusters := map[string]bool{}
					for _, sd := range c.Sides {
						clusters[sd.Dot.Stream.Cluster()] = true
					}
					if len(clusters) < 2 || len(c.Sides) < 2 {
						res.problem("%s/%s: a conflict of %v whose %d sides come from %d cluster(s)", r.Table, r.Key, c.Fields, len(c.Sides), len(clusters))
					}
				}
				return nil
			})
		})
	}
	for _, a := range ops {
		if !a.Acked {
			continue
		}
		for _, s := range sortedSlots(a.Sets) {
			v := a.Sets[s]
			var missing []string
			var holds []string
			for i, n := range e.nodes {
				if finals[i] != nil && !slices.Contains(finals[i][s], v) {
					missing = append(missing, n.name)
					holds = finals[i][s]
				}
			}
			if len(missing) == 0 || k.superseded(a, s) {
				continue
			}
			res.Lost++
			res.problem("lost: %s: %s=%q is gone at %s (it holds %q) and no write of %s that knew it followed; writes of it: %s",
				a, s, v, strings.Join(missing, ","), holds, s.field, k.describe(s))
		}
	}
	return res
}

// knowledge answers "did the client of write B know write A's value of a
// slot".
type knowledge struct {
	writers map[slot][]*liveOp
	byValue map[slot]map[string][]*liveOp
}

func newKnowledge(ops []*liveOp, applied map[int]bool) *knowledge {
	k := &knowledge{writers: map[slot][]*liveOp{}, byValue: map[slot]map[string][]*liveOp{}}
	for _, op := range ops {
		if !applied[op.ID] {
			continue
		}
		for s, v := range op.Sets {
			k.writers[s] = append(k.writers[s], op)
			if k.byValue[s] == nil {
				k.byValue[s] = map[string][]*liveOp{}
			}
			k.byValue[s][v] = append(k.byValue[s][v], op)
		}
	}
	return k
}

func (k *knowledge) slots() []slot {
	out := make([]slot, 0, len(k.writers))
	for s := range k.writers {
		out = append(out, s)
	}
	return out
}

// superseded reports whether an applied write other than a set slot s
// knowing a's value.
func (k *knowledge) superseded(a *liveOp, s slot) bool {
	for _, b := range k.writers[s] {
		if b != a && k.knows(b, a, s, map[int]bool{}) {
			return true
		}
	}
	return false
}

func (k *knowledge) knows(b, a *liveOp, s slot, visited map[int]bool) bool {
	visited[b.ID] = true
	v := a.Sets[s]
	knew := b.Exclusive && a.Acked && a.Done.Before(b.Sent) || slices.Contains(b.Read[s], v)
	for _, c := range b.Read[s] {
		if knew {
			break
		}
		for _, w := range k.byValue[s][c] {
			if !visited[w.ID] && w.Sent.Before(b.Sent) && k.knows(w, a, s, visited) {
				knew = true
				break
			}
		}
	}
	if knew && b.Move[0] == s.key && s.field != existsField {
		// A move supersedes a source value only by carrying it (or a
		// later value) to the target.
		carried, ok := b.Sets[slot{s.table, b.Move[1], s.field}]
		if !ok || carried != v && !slices.ContainsFunc(k.byValue[s][carried], func(w *liveOp) bool {
			return w != b && k.knows(w, a, s, map[int]bool{b.ID: true})
		}) {
			return false
		}
	}
	return knew
}

// describe lists the last applied writes of a slot, for a report.
func (k *knowledge) describe(s slot) string {
	var parts []string
	ws := k.writers[s]
	if len(ws) > 8 {
		parts = append(parts, "...")
		ws = ws[len(ws)-8:]
	}
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("w%d(%s %q)", w.ID, w.Kind, w.Sets[s]))
	}
	return strings.Join(parts, " ")
}

func sortedSlots(m map[slot]string) []slot {
	out := make([]slot, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// finalValues reads the values every version of the slots' records holds.
func finalValues(st *store.Store, slots []slot) map[slot][]string {
	out := map[slot][]string{}
	type rk struct{ table, key string }
	done := map[rk]bool{}
	st.View(func(sn *store.Snapshot) error {
		for _, s := range slots {
			if done[rk{s.table, s.key}] {
				continue
			}
			done[rk{s.table, s.key}] = true
			r, err := sn.Get(s.table, s.key)
			if err != nil {
				return err
			}
			if r == nil {
				if s.table != replicator.TopologyTable {
					addValues(out, s.table, s.key, nil)
				}
				continue
			}
			// What the record shows, and the sides of its conflicts:
			// a value a superseded sibling still carries does not count.
			shown, live := r.Fields()
			var cs []service.FieldConflictView
			for _, c := range r.Conflicts() {
				fc := service.FieldConflictView{Fields: c.Fields}
				for _, sd := range c.Sides {
					fc.Sides = append(fc.Sides, service.SideView{Deleted: sd.Deleted, Fields: sd.Fields})
				}
				cs = append(cs, fc)
			}
			all := append([]map[string]string{versionValues(!live, shown)}, sideValues(shown, !live, cs)...)
			if s.table == replicator.TopologyTable {
				vals := []pbx.Fields{shown}
				for _, c := range cs {
					for _, sd := range c.Sides {
						vals = append(vals, sd.Fields)
					}
				}
				for _, f := range vals {
					for _, name := range topologyFields {
						ts := slot{s.table, s.key, name}
						if !slices.Contains(out[ts], f[name]) {
							out[ts] = append(out[ts], f[name])
						}
					}
				}
				continue
			}
			for _, vals := range all {
				addValues(out, s.table, s.key, vals)
			}
		}
		return nil
	})
	return out
}

// poller reads records at one node through its service the way a client
// polling the API does, and notes every read that went back in time.
type poller struct {
	n     *liveNode
	keys  *keySpace
	rnd   *rand.Rand
	state map[string]*pollState

	mu       sync.Mutex
	problems []string
	count    int
	reads    int
}

type pollState struct {
	seen   map[store.Dot]bool
	last   map[store.Dot]bool
	newest map[store.Stream]uint64
	live   bool
}

func newPoller(n *liveNode, keys *keySpace, seed int64) *poller {
	return &poller{n: n, keys: keys, rnd: rand.New(rand.NewSource(seed)), state: map[string]*pollState{}}
}

// run polls until ctx ends: a few records every tick, and every record
// right after the node (re)started.
func (p *poller) run(ctx context.Context) {
	var last *liveParts
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		parts := p.n.parts.Load()
		if parts == nil {
			continue
		}
		var keys []string
		for _, num := range p.keys.list() {
			for _, c := range p.n.ent.clusters {
				keys = append(keys, keyOf(c.name, num))
			}
		}
		if parts == last {
			p.rnd.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			keys = keys[:min(len(keys), 4)]
		}
		last = parts
		for _, key := range keys {
			p.observe(ctx, parts, key)
		}
	}
}

func (p *poller) regression(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count++
	if len(p.problems) < 20 {
		p.problems = append(p.problems, fmt.Sprintf("%s %s: ", time.Now().Format("15:04:05.000"), p.n.name)+fmt.Sprintf(format, args...))
	}
}

func (p *poller) observe(ctx context.Context, parts *liveParts, key string) {
	at := time.Now()
	v, err := parts.svc.Get(ctx, "extensions", key)
	var ae *service.Error
	absent := errors.As(err, &ae) && ae.Code == 404
	if err != nil && !absent {
		return // the node is stopping, or says it cannot answer yet
	}
	p.mu.Lock()
	p.reads++
	p.mu.Unlock()
	st := p.state[key]
	if st == nil {
		st = &pollState{seen: map[store.Dot]bool{}, newest: map[store.Stream]uint64{}}
		p.state[key] = st
	}
	var dots []store.Dot
	deleted := false
	if !absent {
		deleted = v.Deleted
		for _, ver := range v.Versions {
			if d, err := store.ParseDot(ver.Version); err == nil {
				dots = append(dots, d)
			}
		}
	}
	number := key[strings.IndexByte(key, '/')+1:]
	for _, why := range st.see(absent, deleted, dots, p.keys.deletedBefore(number, at)) {
		p.regression("%s: %s", key, why)
	}
}

// see takes one read of a record (absent, or its versions and whether its
// winner is a deletion) and says how it went back in time, if it did.
// removable says a delete of the record had been sent before the read.
func (st *pollState) see(absent, deleted bool, dots []store.Dot, removable bool) []string {
	var out []string
	if absent {
		if st.live && !removable {
			out = append(out, "reads as absent after it was read live, and no delete of it was sent")
		}
		st.live, st.last = false, nil
		return out
	}
	now := map[store.Dot]bool{}
	for _, d := range dots {
		now[d] = true
		if st.last[d] {
			continue
		}
		switch {
		case st.seen[d]:
			out = append(out, fmt.Sprintf("version %s is back after it had been replaced", d))
		case d.Seq < st.newest[d.Stream]:
			out = append(out, fmt.Sprintf("version %s appears after the newer %s:%d of the same origin was read", d, d.Stream, st.newest[d.Stream]))
		}
	}
	for d := range now {
		st.seen[d] = true
		st.newest[d.Stream] = max(st.newest[d.Stream], d.Seq)
	}
	st.last = now
	st.live = !deleted
	return out
}
