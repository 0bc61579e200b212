package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// Repl measures replication on loopback over the real transport (HTTP/2,
// mutual TLS): sustained changes/s with 32 writers at one replica and the
// time from acknowledgement to visible at every replica, for a mesh of 3
// and a ring of 5; then the catch-up of a replica that missed 100,000
// changes.
func Repl(ctx context.Context, env Env) ([]Result, error) {
	d, n := 5*time.Second, 100_000
	if env.Quick {
		d, n = time.Second, 5_000
	}
	var out []Result
	for _, shape := range []struct {
		mode     replicator.Mode
		replicas int
		goal     string
	}{{replicator.Mesh, 3, ">= 20000/s, p99 < 100 ms"}, {replicator.Ring, 3, ""}, {replicator.Ring, 5, "p99 < 250 ms"}} {
		rs, err := replThroughput(ctx, env, shape.mode, shape.replicas, d, shape.goal)
		if err != nil {
			return out, err
		}
		out = append(out, rs...)
	}
	r, err := replCatchUp(ctx, env, n)
	if err != nil {
		return out, err
	}
	out = append(out, r)
	rs, err := replAnchor(ctx, env, out, d)
	return append(out, rs...), err
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
	e := &enterprise{}
	if err := pki.CreateCA(filepath.Join(dir, "ca"), "bench", time.Hour); err != nil {
		return nil, err
	}
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		e.names = append(e.names, fmt.Sprintf("r%d", i))
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

func replThroughput(ctx context.Context, env Env, mode replicator.Mode, n int, d time.Duration, goal string) ([]Result, error) {
	e, err := newEnterprise(filepath.Join(env.Dir, fmt.Sprintf("%s%d", mode, n)), mode, n)
	if err != nil {
		return nil, err
	}
	defer e.close()
	for i := range e.reps {
		e.run(i)
	}
	origin := e.stores[0]
	stream := origin.Stream("extensions")
	// Each replica notes when each sequence number of the origin's stream
	// becomes visible; the writers note when it was acknowledged.
	const maxSeq = 1 << 22
	acked := make([]int64, maxSeq)
	visible := make([][]int64, n)
	stop := make(chan struct{})
	var watchers sync.WaitGroup
	for i := 1; i < n; i++ {
		visible[i] = make([]int64, maxSeq)
		watchers.Add(1)
		go func(i int) {
			defer watchers.Done()
			var seen uint64
			for {
				ch := e.stores[i].Changed()
				now := time.Now().UnixNano()
				for s := e.stores[i].Summary()[stream]; seen < s && seen < maxSeq-1; {
					seen++
					visible[i][seen] = now
				}
				select {
				case <-ch:
				case <-stop:
					return
				}
			}
		}(i)
	}
	rate, _, err := rate(ctx, 32, d, func(w, i int) error {
		res, err := origin.Write(ctx, "bench", []store.Mutation{{Table: "extensions", Key: fmt.Sprintf("r0/%d-%d", w, i), Value: benchValue}})
		if err == nil && res.Dots[0].Seq < maxSeq {
			acked[res.Dots[0].Seq] = time.Now().UnixNano()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	last := origin.Summary()[stream]
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		all := true
		for i := 1; i < n; i++ {
			all = all && e.stores[i].Summary()[stream] >= last
		}
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	watchers.Wait()
	var lags []time.Duration
	for s := uint64(1); s <= last && s < maxSeq; s++ {
		worst := int64(0)
		for i := 1; i < n; i++ {
			worst = max(worst, visible[i][s])
		}
		if worst == 0 || acked[s] == 0 {
			continue
		}
		lags = append(lags, time.Duration(max(worst-acked[s], 0)))
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	name := fmt.Sprintf("%s of %d, 32 writers at one replica", mode, n)
	return []Result{
		{Name: name + ": changes/s", Value: rate, Unit: "changes/s", Goal: goal},
		{Name: name + ": ack to visible everywhere, p50", Value: ms(Percentile(lags, 50)), Unit: "ms"},
		{Name: name + ": ack to visible everywhere, p99", Value: ms(Percentile(lags, 99)), Unit: "ms", Goal: goal},
	}, nil
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
