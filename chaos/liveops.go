package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// The live workload drives the agent's Service the way operators do:
// every client first reads what it is about to change, then writes.
// Each write sets the fields it names to a value only it uses ("w<id>"),
// so the checker can tell, per field, whose value survived.

// tokenFields are the extension fields the workload writes tokens into;
// existsField is the record's existence (live or deleted) as a field.
var tokenFields = []string{"name", "fullcontact", "defaultuser", "fromuser", "accountcode"}

const existsField = "_exists"

// topologyFields are the topology record's fields the workload changes.
// The site-only tables carry the operation's token as a table that does
// not exist, so each write's value is its own.
var topologyFields = []string{"order", "primary", "site_tables"}

// slot is one field of one record: the unit the checker reasons about.
type slot struct{ table, key, field string }

func (s slot) String() string { return s.table + "/" + s.key + " " + s.field }

// liveOp is one client operation as the checker records it.
type liveOp struct {
	ID      int
	Kind    string
	Node    string
	Summary string // what it asked for, for the report
	// Exclusive: no other write of the slots it sets was in flight while
	// it ran (the workload held their locks), so it supersedes, knowingly,
	// everything acknowledged before it was sent. Otherwise it supersedes
	// only what its client read (it carries If-Match, or must not exist).
	Exclusive bool
	// Sets is what it sets, per slot. Operations whose values the service
	// computes (move, revert, resolve, batch) have FromLog set and get Sets
	// from the change they made, read from the logs at the end.
	Sets    map[slot]string
	FromLog bool
	Move    [2]string // a move's source and target keys
	// Read is what the client read before writing, per slot: the values
	// of every version of every record it looked at.
	Read       map[slot][]string
	Sent, Done time.Time
	Acked      bool
	Refused    bool // a read-only replica refused it (primary mode), as it must
	Err        string
	Code       int // the service's error code (400, 404, 409, 412...), 0 for others
	Versions   []string
}

// liveHistory is every operation of a live run.
type liveHistory struct {
	mu    sync.Mutex
	ops   []*liveOp
	start time.Time
}

func (h *liveHistory) begin(kind string, n *liveNode, exclusive bool, read map[slot][]string) *liveOp {
	h.mu.Lock()
	op := &liveOp{ID: len(h.ops) + 1, Kind: kind, Node: n.name, Exclusive: exclusive, Read: read, Sets: map[slot]string{}}
	h.ops = append(h.ops, op)
	h.mu.Unlock()
	return op
}

func (h *liveHistory) all() []*liveOp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

func (op *liveOp) token() string { return fmt.Sprintf("w%d", op.ID) }

// send marks the moment the write leaves the client and returns the
// context that names the operation as the author of its changes.
func (op *liveOp) send(ctx context.Context) context.Context {
	op.Sent = time.Now()
	return service.WithAuthor(ctx, fmt.Sprintf("%s%d", authorPrefix, op.ID))
}

func (op *liveOp) end(reply *service.WriteReply, err error) {
	op.Done = time.Now()
	if err != nil {
		op.Err = err.Error()
		op.Refused = errors.Is(err, replicator.ErrReadOnlyReplica)
		var ae *service.Error
		if errors.As(err, &ae) {
			op.Code = ae.Code
		}
		return
	}
	op.Acked = true
	if reply != nil {
		op.Versions = reply.Versions
	}
}

func (op *liveOp) String() string {
	state := "acknowledged"
	switch {
	case op.Refused:
		state = "refused"
	case !op.Acked:
		state = "failed: " + op.Err
	}
	return fmt.Sprintf("w%d %s %s at %s (%s)", op.ID, op.Kind, op.Summary, op.Node, state)
}

// slotLocks are the workload's locks on slots: "NUMBER/field" (every
// cluster's record of a number) and "topology/field".
type slotLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.RWMutex
}

func (l *slotLocks) get(name string) *sync.RWMutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks == nil {
		l.locks = map[string]*sync.RWMutex{}
	}
	m := l.locks[name]
	if m == nil {
		m = &sync.RWMutex{}
		l.locks[name] = m
	}
	return m
}

// acquire takes every named lock, exclusive or shared, within d: all or
// none.
func (l *slotLocks) acquire(names []string, exclusive bool, d time.Duration) (release func(), ok bool) {
	deadline := time.Now().Add(d)
	for {
		var held []*sync.RWMutex
		all := true
		for _, name := range names {
			m := l.get(name)
			var got bool
			if exclusive {
				got = m.TryLock()
			} else {
				got = m.TryRLock()
			}
			if !got {
				all = false
				break
			}
			held = append(held, m)
		}
		unlock := func() {
			for _, m := range held {
				if exclusive {
					m.Unlock()
				} else {
					m.RUnlock()
				}
			}
		}
		if all {
			return unlock, true
		}
		unlock()
		if time.Now().After(deadline) {
			return nil, false
		}
		time.Sleep(2 * time.Millisecond) // a retry interval, not a wait for a condition
	}
}

// recordLocks names the locks of every field of a number.
func recordLocks(number string) []string {
	out := make([]string, 0, len(tokenFields)+1)
	for _, f := range append(slices.Clone(tokenFields), existsField) {
		out = append(out, number+"/"+f)
	}
	return out
}

// keySpace is the extension numbers the workload uses, and when each was
// first deleted (the pollers' "absent" is fine only after that).
type keySpace struct {
	mu      sync.Mutex
	numbers []string
	next    int
	deletes map[string]time.Time
}

func (k *keySpace) list() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.numbers)
}

func (k *keySpace) add(numbers ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.numbers = append(k.numbers, numbers...)
}

// fresh reserves n numbers never used.
func (k *keySpace) fresh(n int) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(k.next)
		k.next++
	}
	return out
}

// mayDelete notes that an operation that can remove a record of number
// is being sent.
func (k *keySpace) mayDelete(number string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.deletes[number]; !ok {
		k.deletes[number] = time.Now()
	}
}

// deletedBefore reports whether a removal of number was sent before t.
func (k *keySpace) deletedBefore(number string, t time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	at, ok := k.deletes[number]
	return ok && at.Before(t)
}

// liveWorkload makes operations against the nodes' services.
type liveWorkload struct {
	ent      *liveEnt
	h        *liveHistory
	locks    slotLocks
	keys     *keySpace
	wg       sync.WaitGroup
	inflight atomic.Int32
	kinds    []string // the operation kinds drawn from

	probes, leaderFollower atomic.Int32 // probe rounds run
}

// LiveOps are the operation kinds of the live workload.
var LiveOps = []string{"patch", "patch-if-match", "probe-concurrent", "probe-leader-follower", "put", "put-if-match",
	"delete", "delete-if-match", "create", "move", "revert", "resolve", "batch", "topology"}

// opTimeout bounds one operation: Raft's apply timeout plus retries.
const opTimeout = 8 * time.Second

// lockWait is how long an operation waits for its slots before it gives up.
const lockWait = 300 * time.Millisecond

func keyOf(cluster, number string) string { return cluster + "/" + number }

func (w *liveWorkload) clusterNames() []string {
	out := make([]string, len(w.ent.clusters))
	for i, c := range w.ent.clusters {
		out[i] = c.name
	}
	return out
}

// read reads every cluster's record of a number at a node, as a client
// looks before it edits, per slot: the value the record shows (its
// versions merged field by field) and, where it is in conflict, the values
// of every side.
func (w *liveWorkload) read(ctx context.Context, p *liveParts, number string) (map[slot][]string, map[string]*service.RecordView, error) {
	read := map[slot][]string{}
	views := map[string]*service.RecordView{}
	for _, c := range w.clusterNames() {
		key := keyOf(c, number)
		v, err := p.svc.Get(ctx, "extensions", key)
		var ae *service.Error
		switch {
		case errors.As(err, &ae) && ae.Code == 404:
			addValues(read, "extensions", key, nil)
		case err != nil:
			return nil, nil, err
		default:
			views[key] = v
			addValues(read, "extensions", key, versionValues(v.Deleted, v.Fields))
			if v.Conflict {
				cv, err := p.svc.Conflict(ctx, "extensions/"+key)
				if err != nil {
					return nil, nil, err
				}
				for _, vals := range sideValues(cv.Fields, v.Deleted, cv.Conflicts) {
					addValues(read, "extensions", key, vals)
				}
			}
		}
	}
	return read, views, nil
}

// sideValues are the slot values of each side of a record's conflicts:
// the record as it shows with the side's values of its unit in place.
func sideValues(shown pbx.Fields, deleted bool, cs []service.FieldConflictView) []map[string]string {
	var out []map[string]string
	for _, c := range cs {
		for _, sd := range c.Sides {
			if sd.Deleted {
				out = append(out, versionValues(true, nil))
				continue
			}
			f := shown.Clone()
			if c.Fields == nil { // the whole record
				f = sd.Fields
			}
			for _, name := range c.Fields {
				f[name] = sd.Fields[name]
			}
			out = append(out, versionValues(false, f))
		}
	}
	return out
}

// versionValues are a version's slot values; nil fields mean deleted.
func versionValues(deleted bool, f pbx.Fields) map[string]string {
	out := map[string]string{existsField: "live"}
	if deleted {
		out[existsField] = "deleted"
	}
	for _, name := range tokenFields {
		out[name] = f[name]
	}
	return out
}

func addValues(read map[slot][]string, table, key string, vals map[string]string) {
	if vals == nil {
		vals = versionValues(true, nil)
	}
	for field, v := range vals {
		s := slot{table, key, field}
		if !slices.Contains(read[s], v) {
			read[s] = append(read[s], v)
		}
	}
}

// liveKey returns the key of a number that is live in what was read.
func liveKey(views map[string]*service.RecordView) string {
	keys := make([]string, 0, len(views))
	for k, v := range views {
		if v != nil && !v.Deleted {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

func clusterOfKey(key string) string { c, _, _ := strings.Cut(key, "/"); return c }

// pickNode returns a running node; in primary mode it prefers the
// primary's nodes, so that most writes are not refused.
func (w *liveWorkload) pickNode() *liveNode {
	e := w.ent
	var up []*liveNode
	for _, n := range e.nodes {
		if n.up() {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return nil
	}
	if e.cfg.Mode == replicator.Primary && e.rnd.Float64() < 0.7 {
		p := up[e.rnd.Intn(len(up))].parts.Load()
		if p != nil {
			primary := p.rep.Topology().Primary
			var on []*liveNode
			for _, n := range up {
				if n.cluster.name == primary {
					on = append(on, n)
				}
			}
			if len(on) > 0 {
				return on[e.rnd.Intn(len(on))]
			}
		}
	}
	return up[e.rnd.Intn(len(up))]
}

func (w *liveWorkload) pickNumber() string {
	nums := w.keys.list()
	return nums[w.ent.rnd.Intn(len(nums))]
}

func (w *liveWorkload) pickField() string { return tokenFields[w.ent.rnd.Intn(len(tokenFields))] }

// start runs one random operation in its own goroutine.
func (w *liveWorkload) start() {
	w.wg.Add(1)
	w.inflight.Add(1)
	go func() {
		defer w.wg.Done()
		defer w.inflight.Add(-1)
		w.random()
	}()
}

func (w *liveWorkload) random() {
	n := w.pickNode()
	if n == nil {
		return
	}
	kind := w.kinds[w.ent.rnd.Intn(len(w.kinds))]
	number := w.pickNumber()
	switch kind {
	case "patch":
		w.patch(n, number, w.pickField(), true)
	case "patch-if-match":
		w.patch(n, number, w.pickField(), false)
	case "probe-concurrent":
		w.probeConcurrent(n, number)
	case "probe-leader-follower":
		w.probeLeaderFollower(number)
	case "put":
		w.put(n, number, true)
	case "put-if-match":
		w.put(n, number, false)
	case "delete":
		w.remove(n, number, true)
	case "delete-if-match":
		w.remove(n, number, false)
	case "create":
		w.create(n, number, w.ent.clusters[w.ent.rnd.Intn(len(w.ent.clusters))].name)
	case "move":
		w.move(n, number)
	case "revert":
		w.revert(n, number)
	case "resolve":
		w.resolve(n)
	case "batch":
		w.batch(n, number)
	case "topology":
		w.topology(n, topologyFields[w.ent.rnd.Intn(len(topologyFields))])
	}
}

// patch sets one field of a number's live record (ext set), blind or
// with If-Match on the version read.
func (w *liveWorkload) patch(n *liveNode, number, field string, blind bool) *liveOp {
	release, ok := w.locks.acquire([]string{number + "/" + field}, blind, lockWait)
	if !ok {
		return nil
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p := n.parts.Load()
	if p == nil {
		return nil
	}
	read, views, err := w.read(ctx, p, number)
	if err != nil {
		return nil
	}
	key := liveKey(views)
	if key == "" {
		return nil
	}
	kind := "patch"
	if !blind {
		kind = "patch-if-match"
	}
	op := w.h.begin(kind, n, blind, read)
	w.setPatch(ctx, p, op, key, field, views[key], blind)
	return op
}

func (w *liveWorkload) setPatch(ctx context.Context, p *liveParts, op *liveOp, key, field string, view *service.RecordView, blind bool) {
	op.Sets[slot{"extensions", key, field}] = op.token()
	op.Summary = fmt.Sprintf("%s=%s on %s", field, op.token(), key)
	opts := service.PutOptions{Merge: true}
	if !blind {
		opts.IfMatch = view.Version
		op.Summary += " if-match " + view.Version
	}
	f := pbx.Fields{"cluster": clusterOfKey(key), "regexten": key[strings.IndexByte(key, '/')+1:], field: op.token()}
	reply, err := p.svc.Put(op.send(ctx), "extensions", f, opts)
	op.end(reply, err)
}

// probeConcurrent: several clients set different fields of one record at
// one node at the same moment (the first probe).
func (w *liveWorkload) probeConcurrent(n *liveNode, number string) {
	fields := w.ent.rnd.Perm(len(tokenFields))[:2+w.ent.rnd.Intn(len(tokenFields)-1)]
	var names []string
	for _, i := range fields {
		names = append(names, number+"/"+tokenFields[i])
	}
	release, ok := w.locks.acquire(names, true, lockWait)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p := n.parts.Load()
	if p == nil {
		return
	}
	read, views, err := w.read(ctx, p, number)
	if err != nil {
		return
	}
	key := liveKey(views)
	if key == "" || views[key].Conflict {
		return // a record in conflict takes no blind edit (the probe is about edits that must merge)
	}
	var ops []*liveOp
	for range fields {
		ops = append(ops, w.h.begin("probe-concurrent", n, true, read))
	}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, fi := range fields {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			w.setPatch(ctx, p, ops[i], key, tokenFields[fi], views[key], true)
		}()
	}
	close(gate)
	wg.Wait()
	w.probes.Add(1)
}

// probeLeaderFollower: a field set on the Raft leader, then another field
// of the same record set on a follower (the second probe).
func (w *liveWorkload) probeLeaderFollower(number string) {
	c := w.ent.clusters[w.ent.rnd.Intn(len(w.ent.clusters))]
	leader := c.leader()
	var follower *liveNode
	for _, n := range c.nodes {
		if n != leader && n.up() {
			follower = n
		}
	}
	if leader == nil || follower == nil {
		return
	}
	perm := w.ent.rnd.Perm(len(tokenFields))
	f1, f2 := tokenFields[perm[0]], tokenFields[perm[1]]
	release, ok := w.locks.acquire([]string{number + "/" + f1, number + "/" + f2}, true, lockWait)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for i, step := range []struct {
		n     *liveNode
		field string
	}{{leader, f1}, {follower, f2}} {
		p := step.n.parts.Load()
		if p == nil {
			return
		}
		read, views, err := w.read(ctx, p, number)
		if err != nil {
			return
		}
		key := liveKey(views)
		if key == "" || views[key].Conflict {
			return
		}
		op := w.h.begin([]string{"leader-patch", "follower-patch"}[i], step.n, true, read)
		w.setPatch(ctx, p, op, key, step.field, views[key], true)
		if !op.Acked {
			return
		}
	}
	w.leaderFollower.Add(1)
}

// fullRecord is a whole extension whose token fields all carry the
// operation's token.
func fullRecord(op *liveOp, key string) pbx.Fields {
	f := pbx.Fields{"cluster": clusterOfKey(key), "regexten": key[strings.IndexByte(key, '/')+1:]}
	for _, name := range tokenFields {
		f[name] = op.token()
		op.Sets[slot{"extensions", key, name}] = op.token()
	}
	op.Sets[slot{"extensions", key, existsField}] = "live"
	return f
}

// put replaces a number's live record (PUT), blind or with If-Match.
func (w *liveWorkload) put(n *liveNode, number string, blind bool) {
	w.whole(n, number, blind, func(ctx context.Context, p *liveParts, read map[slot][]string, views map[string]*service.RecordView) {
		key := liveKey(views)
		if key == "" {
			return
		}
		op := w.h.begin(map[bool]string{true: "put", false: "put-if-match"}[blind], n, blind, read)
		f := fullRecord(op, key)
		opts := service.PutOptions{}
		op.Summary = key
		if !blind {
			opts.IfMatch = views[key].Version
			op.Summary += " if-match " + opts.IfMatch
		}
		reply, err := p.svc.Put(op.send(ctx), "extensions", f, opts)
		op.end(reply, err)
	})
}

// remove deletes a number's live record, blind or with If-Match.
func (w *liveWorkload) remove(n *liveNode, number string, blind bool) {
	w.whole(n, number, blind, func(ctx context.Context, p *liveParts, read map[slot][]string, views map[string]*service.RecordView) {
		key := liveKey(views)
		if key == "" {
			return
		}
		op := w.h.begin(map[bool]string{true: "delete", false: "delete-if-match"}[blind], n, blind, read)
		for _, name := range tokenFields {
			op.Sets[slot{"extensions", key, name}] = ""
		}
		op.Sets[slot{"extensions", key, existsField}] = "deleted"
		ifMatch := ""
		if !blind {
			ifMatch = views[key].Version
		}
		op.Summary = key + " " + ifMatch
		w.keys.mayDelete(number)
		reply, err := p.svc.Delete(op.send(ctx), "extensions", key, ifMatch)
		op.end(reply, err)
	})
}

// create adds a number on a cluster where no record of it is live (ext
// add: it must not exist).
func (w *liveWorkload) create(n *liveNode, number, cluster string) *liveOp {
	var op *liveOp
	w.whole(n, number, false, func(ctx context.Context, p *liveParts, read map[slot][]string, views map[string]*service.RecordView) {
		if liveKey(views) != "" {
			return
		}
		key := keyOf(cluster, number)
		op = w.h.begin("create", n, false, read)
		op.Summary = key
		reply, err := p.svc.Put(op.send(ctx), "extensions", fullRecord(op, key), service.PutOptions{Must: store.MustNotExist})
		op.end(reply, err)
	})
	return op
}

// move moves a number's live record to another cluster.
func (w *liveWorkload) move(n *liveNode, number string) {
	w.whole(n, number, true, func(ctx context.Context, p *liveParts, read map[slot][]string, views map[string]*service.RecordView) {
		from := liveKey(views)
		if from == "" {
			return
		}
		var to []string
		for _, c := range w.clusterNames() {
			if v := views[keyOf(c, number)]; c != clusterOfKey(from) && (v == nil || v.Deleted) {
				to = append(to, c)
			}
		}
		if len(to) == 0 {
			return
		}
		target := to[w.ent.rnd.Intn(len(to))]
		op := w.h.begin("move", n, true, read)
		op.FromLog, op.Move = true, [2]string{from, keyOf(target, number)}
		op.Summary = from + " → " + target
		w.keys.mayDelete(number)
		reply, err := p.svc.Move(op.send(ctx), service.MoveRequest{From: from, To: target})
		op.end(reply, err)
	})
}

// revert backs out the latest workload change of a number's record.
func (w *liveWorkload) revert(n *liveNode, number string) {
	w.whole(n, number, true, func(ctx context.Context, p *liveParts, read map[slot][]string, views map[string]*service.RecordView) {
		var keys []string
		for k, v := range views {
			if v != nil {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return
		}
		sort.Strings(keys)
		key := keys[w.ent.rnd.Intn(len(keys))]
		hist, err := p.svc.History(ctx, "extensions", key)
		if err != nil {
			return
		}
		var change string
		for _, item := range hist {
			if writeID(item.Author) > 0 {
				change = item.Change
			}
		}
		if change == "" {
			return
		}
		op := w.h.begin("revert", n, true, read)
		op.FromLog = true
		op.Summary = "change " + change + " of " + key
		w.keys.mayDelete(number)
		reply, err := p.svc.Revert(op.send(ctx), change)
		op.end(reply, err)
	})
}

// resolve resolves a conflict the node lists by taking one side.
func (w *liveWorkload) resolve(n *liveNode) {
	p := n.parts.Load()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cs, err := p.svc.Conflicts(ctx)
	if err != nil || len(cs) == 0 {
		return
	}
	c := cs[w.ent.rnd.Intn(len(cs))]
	if c.Table != "extensions" {
		return
	}
	number := c.Key[strings.IndexByte(c.Key, '/')+1:]
	w.whole(n, number, true, func(ctx context.Context, p *liveParts, read map[slot][]string, views map[string]*service.RecordView) {
		cv, err := p.svc.Conflict(ctx, c.Ref)
		if err != nil {
			return
		}
		sides := cv.Conflicts[w.ent.rnd.Intn(len(cv.Conflicts))].Sides
		take := sides[w.ent.rnd.Intn(len(sides))].Cluster
		op := w.h.begin("resolve", n, true, read)
		op.FromLog = true
		op.Summary = fmt.Sprintf("%s --take %s", c.Ref, take)
		w.keys.mayDelete(number)
		reply, err := p.svc.Resolve(op.send(ctx), c.Ref, service.ResolveRequest{Take: take})
		op.end(reply, err)
	})
}

// batch creates two new numbers from a number's live record as template.
func (w *liveWorkload) batch(n *liveNode, number string) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p := n.parts.Load()
	if p == nil {
		return
	}
	read, views, err := w.read(ctx, p, number)
	if err != nil || liveKey(views) == "" {
		return
	}
	fresh := w.keys.fresh(2)
	cluster := w.clusterNames()[w.ent.rnd.Intn(len(w.ent.clusters))]
	op := w.h.begin("batch", n, false, read)
	op.FromLog = true
	op.Summary = fmt.Sprintf("%s..%s on %s from %s", fresh[0], fresh[1], cluster, liveKey(views))
	reply, err := p.svc.Batch(op.send(ctx), service.BatchRequest{Template: liveKey(views), Cluster: cluster, From: fresh[0], To: fresh[1]})
	if err == nil && !reply.Valid {
		err = fmt.Errorf("invalid batch: %s", strings.Join(reply.Problems, "; "))
	}
	op.end(nil, err)
	w.keys.add(fresh...) // even when it failed: it may have been applied
}

// topology changes one field of the replicated topology (repl promote,
// the ring order) through the service, which reads the topology in force
// and writes it back with the change.
func (w *liveWorkload) topology(n *liveNode, field string) { w.setTopology(n, field, "") }

// setTopology changes one field of the topology; primary, when given, is
// the cluster to promote.
func (w *liveWorkload) setTopology(n *liveNode, field, primary string) *liveOp {
	release, ok := w.locks.acquire([]string{"topology/" + field}, true, lockWait)
	if !ok {
		return nil
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p := n.parts.Load()
	if p == nil {
		return nil
	}
	read := map[slot][]string{}
	p.local.View(func(sn *store.Snapshot) error {
		r, err := sn.Get(replicator.TopologyTable, replicator.TopologyKey)
		if err != nil || r == nil {
			return err
		}
		for _, v := range r.Versions {
			f, _ := pbx.DecodeFields(v.Value)
			for _, name := range topologyFields {
				s := slot{replicator.TopologyTable, replicator.TopologyKey, name}
				if !slices.Contains(read[s], f[name]) {
					read[s] = append(read[s], f[name])
				}
			}
		}
		return nil
	})
	op := w.h.begin("topology", n, true, read)
	var ch service.TopologyChange
	names := w.clusterNames()
	switch field {
	case "order":
		for _, i := range w.ent.rnd.Perm(len(names)) {
			ch.Order = append(ch.Order, names[i])
		}
		op.Sets[slot{replicator.TopologyTable, replicator.TopologyKey, field}] = strings.Join(ch.Order, ",")
		op.Summary = "order " + strings.Join(ch.Order, ",")
	case "primary":
		ch.Primary = primary
		if ch.Primary == "" {
			ch.Primary = names[w.ent.rnd.Intn(len(names))]
		}
		op.Sets[slot{replicator.TopologyTable, replicator.TopologyKey, field}] = ch.Primary
		op.Summary = "primary " + ch.Primary
	default:
		ch.SiteTables = []string{"hours", "hotdesks", op.token()}
		op.Sets[slot{replicator.TopologyTable, replicator.TopologyKey, field}] = strings.Join(ch.SiteTables, ",")
		op.Summary = "site tables " + strings.Join(ch.SiteTables, ",")
	}
	reply, err := p.svc.SetTopology(op.send(ctx), ch)
	op.end(reply, err)
	return op
}

// whole runs fn with every field of a number locked (exclusive for
// writes that supersede what is current, shared for writes that carry
// their precondition) and what the client read.
func (w *liveWorkload) whole(n *liveNode, number string, exclusive bool, fn func(ctx context.Context, p *liveParts, read map[slot][]string, views map[string]*service.RecordView)) {
	release, ok := w.locks.acquire(recordLocks(number), exclusive, lockWait)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	p := n.parts.Load()
	if p == nil {
		return
	}
	read, views, err := w.read(ctx, p, number)
	if err != nil {
		return
	}
	fn(ctx, p, read, views)
}
