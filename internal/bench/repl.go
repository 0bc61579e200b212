package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// Repl measures replication on loopback over the real transport (HTTP/2,
// mutual TLS), every store fsyncing each commit: for a mesh of 3, a ring
// of 3 and a ring of 5 with 32 writers at one replica, the changes/s
// acknowledged at the origin, the changes/s visible at every replica, and
// the time from acknowledgement to visible at the farthest replica; then
// the catch-up of a replica that missed 100,000 changes, status
// coalescing, and the ring of 3 against a MariaDB ring of 3 at the same
// durability (the anchor). A change that never becomes visible
// everywhere fails the suite.
func Repl(ctx context.Context, env Env) ([]Result, error) {
	d, n := 5*time.Second, 100_000
	if env.Quick {
		d, n = time.Second, 5_000
	}
	env.Param("writers", replWriters)
	env.Param("duration", d)
	env.Param("catch_up_changes", n)
	env.Param("visible_within", replSettle)
	var out []Result
	ring3 := -1 // where the ring of 3's rows are in out
	failures := 0
	for _, shape := range []struct {
		mode     replicator.Mode
		replicas int
		goalRate string
		goalP99  string
	}{{replicator.Mesh, 3, ">= 20000/s", "< 100 ms"}, {replicator.Ring, 3, "", ""}, {replicator.Ring, 5, "", "< 250 ms"}} {
		f, err := replThroughput(ctx, env, replShape{mode: shape.mode, replicas: shape.replicas, settle: replSettle, cut: -1}, d)
		if err != nil {
			return out, err
		}
		rs := f.rows(fmt.Sprintf("pbxtopo %s of %d, %d writers at one replica", shape.mode, shape.replicas, replWriters), "changes/s", shape.goalRate, shape.goalP99)
		for _, r := range rs {
			if r.Error != "" {
				failures++
			}
		}
		if shape.mode == replicator.Ring && shape.replicas == 3 {
			ring3 = len(out)
		}
		out = append(out, rs...)
	}
	r, err := replCatchUp(ctx, env, n)
	if err != nil {
		return out, err
	}
	out = append(out, r)
	rs, err := statusCoalescing(ctx, env)
	out = append(out, rs...)
	if err != nil {
		return out, err
	}
	rs, err = replAnchor(ctx, env, out[ring3:ring3+4], d)
	out = append(out, rs...)
	if err == nil && failures > 0 {
		err = fmt.Errorf("%d replication figure(s) could not be measured", failures)
	}
	return out, err
}

// replWriters is how many writers the throughput runs use.
const replWriters = 32

// replSettle is how long every acknowledged change has to become visible
// everywhere after the writers stop; past it the measurement fails.
const replSettle = 60 * time.Second

// flow is what one replication run measured.
type flow struct {
	acked   float64 // writes/s acknowledged at the origin
	visible float64 // writes over the time from the first write to the last one visible at the farthest member
	p50     time.Duration
	p99     time.Duration // acknowledgement to visible at the farthest member
	n       int           // writes acknowledged
	err     error         // why visibility could not be measured
	stores  int           // replicas, all on the one scratch disk
	pages   int64         // pages their stores wrote from the first write until all were visible
	took    time.Duration // that time
}

// rows returns a flow's four figures; when visibility could not be
// measured, its three rows are failures that say why.
func (f flow) rows(name, unit, goalRate, goalP99 string) []Result {
	note := fmt.Sprintf("%d writes", f.n)
	if f.pages > 0 && f.n > 0 {
		note += fmt.Sprintf("; the %d stores wrote %.1f pages per change, %.0f pages/s on one disk", f.stores,
			float64(f.pages)/float64(f.n), float64(f.pages)/f.took.Seconds())
	}
	out := []Result{{Name: name + ": acknowledged at the origin", Value: f.acked, Unit: unit, Clients: replWriters, Note: note}}
	vis := []Result{
		{Name: name + ": visible at every member", Value: f.visible, Unit: unit, Goal: goalRate, Clients: replWriters},
		{Name: name + ": ack to visible at every member, p50", Value: ms(f.p50), Unit: "ms"},
		{Name: name + ": ack to visible at every member, p99", Value: ms(f.p99), Unit: "ms", Goal: goalP99},
	}
	for _, r := range vis {
		if f.err != nil {
			r = failed(r.Name, f.err)
		}
		out = append(out, r)
	}
	return out
}

// anchorFlow sets a's rows of the same quantity as the anchor of each of
// rs, with its settings.
func anchorFlow(rs []Result, name string, a flow, settings string) {
	vals := map[string]float64{": acknowledged at the origin": a.acked, ": visible at every member": a.visible,
		": ack to visible at every member, p50": ms(a.p50), ": ack to visible at every member, p99": ms(a.p99)}
	for i := range rs {
		for suffix, v := range vals {
			if strings.HasSuffix(rs[i].Name, suffix) && rs[i].Error == "" && a.err == nil {
				rs[i].Anchor, rs[i].AnchorValue, rs[i].AnchorSettings = name+suffix, v, settings
			}
		}
	}
}

// enterprise is a set of in-process replicas served over loopback TLS.
type enterprise struct {
	names   []string
	stores  []*store.Store
	reps    []*replicator.Replicator
	addrs   []string
	servers []*http.Server
	cancel  []context.CancelFunc
	wg      sync.WaitGroup
	down    [8]atomic.Bool // replicas the membership reports failed
}

type staticMembers struct {
	views func() []replicator.ClusterView
}

func (m staticMembers) Clusters() []replicator.ClusterView { return m.views() }
func (m staticMembers) Changed() <-chan struct{}           { return nil }

func newEnterprise(dir string, mode replicator.Mode, n int) (*enterprise, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("r%d", i)
	}
	return newEnterpriseOf(dir, mode, names)
}

// newEnterpriseOf is newEnterprise with the replicas (clusters) named.
func newEnterpriseOf(dir string, mode replicator.Mode, names []string) (*enterprise, error) {
	e := &enterprise{}
	if err := pki.CreateCA(filepath.Join(dir, "ca"), "bench", time.Hour); err != nil {
		return nil, err
	}
	var lns []net.Listener
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		e.names = append(e.names, name)
		e.addrs = append(e.addrs, ln.Addr().String())
	}
	views := func() []replicator.ClusterView {
		var v []replicator.ClusterView
		for i, name := range e.names {
			v = append(v, replicator.ClusterView{Name: name, Alive: !e.down[i].Load(), Addrs: []string{e.addrs[i]}})
		}
		return v
	}
	for i, name := range e.names {
		files := pki.Files{CA: filepath.Join(dir, "ca", pki.CAFile)}
		var err error
		if files.Cert, files.Key, err = pki.CreateCert(filepath.Join(dir, "ca"), dir, pki.CertRequest{Cluster: name, Node: name, Validity: time.Hour}); err != nil {
			return nil, err
		}
		tlsCfg, err := pki.TLSConfig(files)
		if err != nil {
			return nil, err
		}
		sc := store.DefaultConfig(filepath.Join(dir, name, "store.db"))
		sc.Replica = name
		st, err := store.Open(sc)
		if err != nil {
			return nil, err
		}
		rc := replicator.DefaultConfig(name, "")
		rc.Default = replicator.Topology{Mode: mode, Order: e.names}
		rep, err := replicator.New(rc, replicator.Deps{Store: st, Transport: replicator.NewHTTPTransport(tlsCfg, 0, nil), Membership: staticMembers{views}})
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: rep.Handler(), TLSConfig: tlsCfg}
		go srv.ServeTLS(lns[i], "", "")
		e.stores, e.reps, e.servers = append(e.stores, st), append(e.reps, rep), append(e.servers, srv)
		e.cancel = append(e.cancel, func() {})
	}
	return e, nil
}

// run starts replica i's replication.
func (e *enterprise) run(i int) {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel[i] = cancel
	e.wg.Add(1)
	go func() { defer e.wg.Done(); e.reps[i].Run(ctx) }()
}

func (e *enterprise) close() {
	for _, c := range e.cancel {
		c()
	}
	e.wg.Wait()
	for i := range e.servers {
		e.servers[i].Close()
		e.stores[i].Close()
	}
}

var benchValue = pbx.Fields{"cluster": "r0", "name": "George Lopez", "callerid": "George Lopez <6109>", "mailbox": "6109",
	"context": "USSales1", "astgroup": "USSales", "secret": "hwtMazpRnvuS3VgA", "allow": "ulaw,alaw"}.AppendBinary(nil)

// replShape is one throughput run's enterprise.
type replShape struct {
	mode     replicator.Mode
	replicas int
	settle   time.Duration // how long the changes have to become visible everywhere
	cut      int           // a replica never started (tests), or -1
}

// replThroughput runs the writers at replica 0 for d and measures the
// flow to every other replica.
func replThroughput(ctx context.Context, env Env, shape replShape, d time.Duration) (flow, error) {
	n := shape.replicas
	e, err := newEnterprise(filepath.Join(env.Dir, fmt.Sprintf("%s%d", shape.mode, n)), shape.mode, n)
	if err != nil {
		return flow{}, err
	}
	defer e.close()
	for i := range e.reps {
		if i != shape.cut {
			e.run(i)
		}
	}
	origin := e.stores[0]
	stream := origin.Stream("extensions")
	// Each replica notes when each sequence number of the origin's stream
	// becomes visible there (woken by every commit); the writers note when
	// each was acknowledged.
	const maxSeq = 1 << 22
	acked := make([]int64, maxSeq)
	visible := make([][]int64, n)
	seen := make([]atomic.Uint64, n)
	stop := make(chan struct{})
	var watchers sync.WaitGroup
	for i := 1; i < n; i++ {
		visible[i] = make([]int64, maxSeq)
		watchers.Add(1)
		go func(i int) {
			defer watchers.Done()
			for {
				ch := e.stores[i].Changed()
				now := time.Now().UnixNano()
				s := seen[i].Load()
				for top := e.stores[i].Summary()[stream]; s < top && s < maxSeq-1; {
					s++
					visible[i][s] = now
				}
				seen[i].Store(s)
				select {
				case <-ch:
				case <-stop:
					return
				}
			}
		}(i)
	}
	pagesWritten := func() (n int64) {
		for _, st := range e.stores {
			n += st.Stats().PagesWritten
		}
		return n
	}
	pages0 := pagesWritten()
	began := time.Now().UnixNano()
	var f flow
	f.stores = n
	f.acked, _, err = rate(ctx, replWriters, d, func(w, i int) error {
		res, err := origin.Write(ctx, "bench", []store.Mutation{{Table: "extensions", Key: fmt.Sprintf("r0/%d-%d", w, i), Value: benchValue}})
		if err == nil && res.Dots[0].Seq < maxSeq {
			acked[res.Dots[0].Seq] = time.Now().UnixNano()
		}
		return err
	})
	if err != nil {
		close(stop)
		watchers.Wait()
		return f, err
	}
	last := origin.Summary()[stream]
	f.n = int(last)
	if last >= maxSeq {
		close(stop)
		watchers.Wait()
		return f, fmt.Errorf("%d writes: more than the %d the lag measurement holds", last, maxSeq-1)
	}
	werr := poll(ctx, shape.settle, func() bool {
		for i := 1; i < n; i++ {
			if seen[i].Load() < last {
				return false
			}
		}
		return true
	})
	close(stop)
	watchers.Wait()
	if werr != nil {
		var behind []string
		for i := 1; i < n; i++ {
			if s := seen[i].Load(); s < last {
				behind = append(behind, fmt.Sprintf("%s holds %d", e.names[i], s))
			}
		}
		f.err = fmt.Errorf("not every acknowledged change became visible everywhere within %v of the writers stopping: "+
			"%d written at %s, %s", shape.settle, last, e.names[0], strings.Join(behind, ", "))
		return f, nil
	}
	var lags []time.Duration
	var lastVisible int64
	for s := uint64(1); s <= last; s++ {
		worst := int64(0)
		for i := 1; i < n; i++ {
			worst = max(worst, visible[i][s])
		}
		if acked[s] == 0 {
			return f, fmt.Errorf("change %d of the origin was never acknowledged to its writer", s)
		}
		lags = append(lags, time.Duration(max(worst-acked[s], 0)))
		lastVisible = max(lastVisible, worst)
	}
	f.visible = float64(last) / time.Duration(lastVisible-began).Seconds()
	f.pages, f.took = pagesWritten()-pages0, time.Since(time.Unix(0, began))
	f.p50, f.p99 = Percentile(lags, 50), Percentile(lags, 99)
	return f, nil
}

// replCatchUp cuts one replica off while n changes are made, then lets it
// rejoin and times until its digests match.
func replCatchUp(ctx context.Context, env Env, n int) (Result, error) {
	e, err := newEnterprise(filepath.Join(env.Dir, "catchup"), replicator.Mesh, 3)
	if err != nil {
		return Result{}, err
	}
	defer e.close()
	e.run(0)
	e.run(1)
	for done := 0; done < n; {
		var muts []store.Mutation
		for j := 0; j < 1000 && done < n; j++ {
			muts = append(muts, store.Mutation{Table: "extensions", Key: fmt.Sprintf("r0/%07d", done), Value: benchValue})
			done++
		}
		if _, err := e.stores[0].Write(ctx, "bench", muts); err != nil {
			return Result{}, err
		}
	}
	start := time.Now()
	e.run(2)
	for time.Since(start) < 2*time.Minute {
		if e.stores[2].Summary().Equal(e.stores[0].Summary()) && sameDigests(e.stores[0], e.stores[2]) {
			return Result{Name: fmt.Sprintf("catch-up of a replica that missed %d changes, to equal digests", n),
				Value: time.Since(start).Seconds(), Unit: "s", Goal: "< 5 s"}, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return Result{}, fmt.Errorf("catch-up did not finish in 2 minutes")
}

func sameDigests(a, b *store.Store) bool {
	var da, db map[string]store.Digest
	a.View(func(sn *store.Snapshot) error { da, _ = sn.Digests(); return nil })
	b.View(func(sn *store.Snapshot) error { db, _ = sn.Digests(); return nil })
	if len(da) != len(db) {
		return false
	}
	for t, d := range da {
		if db[t].Root != d.Root {
			return false
		}
	}
	return true
}
