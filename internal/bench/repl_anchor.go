package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
	"github.com/pbxtopo/pbxtopo/store"
)

// replAnchor measures the anchor of the repl suite: a ring of three
// mariadbd on loopback with circular replication (A→B→C→A), the same 32
// writers upserting rows at A, and what it does when B dies and when one
// row is written at A and C at once, next to pbxtopo's ring of three. The
// pbxtopo ring-of-3 figures in pb get MariaDB's as their anchor.
func replAnchor(ctx context.Context, env Env, pb []Result, d time.Duration) ([]Result, error) {
	wait := 10 * time.Second
	if env.Quick {
		wait = 2 * time.Second
	}
	kill, nConflicts, conflict, err := pbxRingFaults(ctx, env, wait)
	if err != nil {
		return nil, fmt.Errorf("pbxtopo ring faults: %w", err)
	}
	out := []Result{
		{Name: "pbxtopo ring of 3: member r1 killed, a write at r0 reaches r2", Value: kill, Unit: "ms",
			Note: "dead member skipped (membership marks it failed), the ring heals"},
		{Name: "pbxtopo ring of 3: same row written at r0 and r2 at once", Value: float64(nConflicts), Unit: "conflicts at r0", Note: conflict},
	}
	if err := mariadbtest.Available(); err != nil {
		return append(out, Result{Name: "MariaDB ring of 3: skipped", Unit: "-", Note: "MariaDB is not installed: " + err.Error()}), nil
	}
	mr, err := mariaRing(ctx, env, d, wait)
	if err != nil {
		return out, fmt.Errorf("MariaDB ring: %w", err)
	}
	const ringName = "ring of 3, 32 writers at one replica"
	for i := range pb {
		switch pb[i].Name {
		case ringName + ": changes/s":
			pb[i].Anchor, pb[i].AnchorValue = "MariaDB ring of 3, rows/s visible everywhere", mr.rate
		case ringName + ": ack to visible everywhere, p99":
			pb[i].Anchor, pb[i].AnchorValue = "MariaDB ring of 3, p99 lag", ms(mr.p99)
		}
	}
	return append(out,
		Result{Name: "MariaDB ring of 3, 32 writers at A: rows/s acknowledged at A", Value: mr.ackRate, Unit: "rows/s",
			Note: fmt.Sprintf("%d upserts, log_slave_updates, auto_increment_increment=3", mr.rows)},
		Result{Name: "MariaDB ring of 3, 32 writers at A: rows/s visible at every member", Value: mr.rate, Unit: "rows/s",
			Note: "the anchor: replication applies with one SQL thread, so it falls behind the writers"},
		Result{Name: "MariaDB ring of 3: commit to visible everywhere, p50", Value: ms(mr.p50), Unit: "ms"},
		Result{Name: "MariaDB ring of 3: commit to visible everywhere, p99", Value: ms(mr.p99), Unit: "ms"},
		Result{Name: "MariaDB ring of 3: member B killed, a write at A reaches C", Value: mr.killMS, Unit: mr.killUnit, Note: mr.killNote},
		Result{Name: "MariaDB ring of 3: same row written at A and C at once", Unit: "-", Note: mr.conflict},
	), nil
}

// pbxRingFaults runs pbxtopo's ring of three in process: the same row
// written at r0 and r2 before they talk (one conflict, the same winner
// everywhere?), then r1 killed and marked failed, and the time a write at r0
// takes to reach r2.
func pbxRingFaults(ctx context.Context, env Env, wait time.Duration) (killMS float64, nConflicts int, conflict string, err error) {
	e, err := newEnterprise(env.Dir+"/ringfaults", replicator.Ring, 3)
	if err != nil {
		return 0, 0, "", err
	}
	defer e.close()
	const key = "r0/conflict"
	for _, i := range []int{0, 2} {
		v := pbx.Fields{"cluster": "r0", "name": fmt.Sprintf("written at r%d", i), "context": "USSales1"}.AppendBinary(nil)
		if _, err := e.stores[i].Write(ctx, "bench", []store.Mutation{{Table: "extensions", Key: key, Value: v}}); err != nil {
			return 0, 0, "", err
		}
	}
	for i := range e.reps {
		e.run(i)
	}
	values := func() []string {
		var vs []string
		for _, st := range e.stores {
			f, _, _ := st.Get("extensions", key)
			vs = append(vs, f["name"])
		}
		return vs
	}
	settled := func() bool {
		vs := values()
		for i, st := range e.stores {
			if st.Stats().Conflicts < 1 || vs[i] != vs[0] {
				return false
			}
		}
		return true
	}
	poll(ctx, wait, settled)
	var parts []string
	for i, st := range e.stores {
		parts = append(parts, fmt.Sprintf("r%d: %d conflict, value %q", i, st.Stats().Conflicts, values()[i]))
	}
	conflict = strings.Join(parts, "; ")
	if settled() {
		conflict = "same winner everywhere, conflict listed at every replica (" + conflict + ")"
	} else {
		conflict = "NOT settled in " + wait.String() + " (" + conflict + ")"
	}

	e.cancel[1]()
	e.servers[1].Close()
	e.down[1].Store(true)
	start := time.Now()
	if _, err := e.stores[0].Write(ctx, "bench", []store.Mutation{{Table: "extensions", Key: "r0/after-kill", Value: benchValue}}); err != nil {
		return 0, 0, "", err
	}
	if err := poll(ctx, wait, func() bool { _, ok, _ := e.stores[2].Get("extensions", "r0/after-kill"); return ok }); err != nil {
		return 0, 0, "", fmt.Errorf("a write at r0 did not reach r2 in %s with r1 dead", wait)
	}
	return ms(time.Since(start)), e.stores[0].Stats().Conflicts, conflict, nil
}

type mariaRingResult struct {
	rate     float64 // rows/s visible at every member
	ackRate  float64 // rows/s acknowledged at A
	rows     int
	p50, p99 time.Duration
	killMS   float64
	killNote string
	killUnit string
	conflict string
}

func mariaRing(ctx context.Context, env Env, d, wait time.Duration) (mariaRingResult, error) {
	var res mariaRingResult
	names := []string{"A", "B", "C"}
	var srv []*mariadbtest.Server
	defer func() {
		for _, s := range srv {
			s.Stop()
		}
	}()
	for i, name := range names {
		s, err := startMariaDBArgs(env, "ring-"+name, 31+i, "--log-slave-updates=1",
			"--auto-increment-increment=3", fmt.Sprintf("--auto-increment-offset=%d", i+1))
		if err != nil {
			return res, err
		}
		srv = append(srv, s)
		if err := s.Exec(benchDB, "CREATE TABLE ringrows (id BIGINT AUTO_INCREMENT PRIMARY KEY, k VARCHAR(64) NOT NULL UNIQUE, v VARCHAR(255) NOT NULL)"); err != nil {
			return res, err
		}
	}
	for i := range srv { // B from A, C from B, A from C
		if err := replicateFrom(srv[(i+1)%3], srv[i]); err != nil {
			return res, err
		}
	}
	conns := make([]*client.Conn, 32)
	for w := range conns {
		c, err := srv[0].Conn(benchDB)
		if err != nil {
			return res, err
		}
		defer c.Close()
		conns[w] = c
	}
	// The n-th acknowledged row is taken as visible at a member when the
	// member holds n rows.
	const maxN = 1 << 21
	acked := make([]int64, maxN)
	var nAcked atomic.Int64
	visible := [3][]int64{nil, make([]int64, maxN), make([]int64, maxN)}
	seen := [3]atomic.Int64{}
	stop := make(chan struct{})
	var watchers sync.WaitGroup
	var watchErr atomic.Value
	for m := 1; m < 3; m++ {
		c, err := srv[m].Conn(benchDB)
		if err != nil {
			return res, err
		}
		defer c.Close()
		watchers.Add(1)
		go func(m int) {
			defer watchers.Done()
			for {
				r, err := c.Execute("SELECT COUNT(*) FROM ringrows")
				if err != nil {
					watchErr.Store(err)
					return
				}
				cnt, _ := r.GetInt(0, 0)
				r.Close()
				now := time.Now().UnixNano()
				for s := seen[m].Load(); s < cnt && s < maxN-1; {
					s++
					visible[m][s] = now
					seen[m].Store(s)
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}(m)
	}
	began := time.Now().UnixNano()
	rate, _, err := rate(ctx, 32, d, func(w, i int) error {
		_, err := conns[w].Execute(fmt.Sprintf("INSERT INTO ringrows (k, v) VALUES ('%d-%d', 'George Lopez <6109> USSales1') ON DUPLICATE KEY UPDATE v = VALUES(v)", w, i))
		if err == nil {
			if n := nAcked.Add(1); n < maxN {
				acked[n] = time.Now().UnixNano()
			}
		}
		return err
	})
	if err != nil {
		close(stop)
		return res, err
	}
	total := nAcked.Load()
	werr := poll(ctx, time.Minute, func() bool { return seen[1].Load() >= total && seen[2].Load() >= total })
	close(stop)
	watchers.Wait()
	if werr != nil {
		return res, fmt.Errorf("rows did not reach every member in a minute: B %d, C %d of %d", seen[1].Load(), seen[2].Load(), total)
	}
	if err, ok := watchErr.Load().(error); ok {
		return res, err
	}
	var lags []time.Duration
	for n := int64(1); n <= total && n < maxN; n++ {
		lags = append(lags, time.Duration(max(max(visible[1][n], visible[2][n])-acked[n], 0)))
	}
	res.ackRate, res.rows = rate, int(total)
	if total > 0 && total < maxN {
		res.rate = float64(total) / time.Duration(max(visible[1][total], visible[2][total])-began).Seconds()
	}
	res.p50, res.p99 = Percentile(lags, 50), Percentile(lags, 99)

	// The same row at A and C at once.
	a, c := conns[0], conns[1]
	cc, err := srv[2].Conn(benchDB)
	if err != nil {
		return res, err
	}
	defer cc.Close()
	c = cc
	if _, err := a.Execute("INSERT INTO ringrows (k, v) VALUES ('conflict', 'seed')"); err != nil {
		return res, err
	}
	if err := poll(ctx, wait, func() bool { return rowValue(c, "conflict") == "seed" }); err != nil {
		return res, fmt.Errorf("the seed row did not reach C")
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, x := range []struct {
		c *client.Conn
		v string
	}{{a, "written at A"}, {c, "written at C"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = x.c.Execute("UPDATE ringrows SET v = '" + x.v + "' WHERE k = 'conflict'")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	// A marker written after each update at its origin: once both markers
	// are everywhere, both updates have gone round the ring.
	if _, err := a.Execute("INSERT INTO ringrows (k, v) VALUES ('marker-a', 'm')"); err != nil {
		return res, err
	}
	if _, err := c.Execute("INSERT INTO ringrows (k, v) VALUES ('marker-c', 'm')"); err != nil {
		return res, err
	}
	readers := []*client.Conn{a, nil, c}
	cb, err := srv[1].Conn(benchDB)
	if err != nil {
		return res, err
	}
	defer cb.Close()
	readers[1] = cb
	poll(ctx, wait, func() bool {
		for _, r := range readers {
			if rowValue(r, "marker-a") == "" || rowValue(r, "marker-c") == "" {
				return false
			}
		}
		return true
	})
	var parts []string
	vals := map[string]bool{}
	for i, r := range readers {
		v := rowValue(r, "conflict")
		vals[v] = true
		p := fmt.Sprintf("%s: %q", names[i], v)
		if e := slaveError(r); e != "" {
			p += " (replication stopped: " + e + ")"
		}
		parts = append(parts, p)
	}
	verdict := "members hold different values, no error, no conflict reported"
	if len(vals) == 1 {
		verdict = "same value everywhere (last applied wins), no conflict reported"
	}
	res.conflict = verdict + ": " + strings.Join(parts, "; ")

	// B killed: does a write at A reach C?
	srv[1].Kill()
	start := time.Now()
	if _, err := a.Execute("INSERT INTO ringrows (k, v) VALUES ('after-kill', 'x')"); err != nil {
		return res, err
	}
	if poll(ctx, wait, func() bool { return rowValue(c, "after-kill") != "" }) == nil {
		res.killMS, res.killUnit, res.killNote = ms(time.Since(start)), "ms", "reached C"
	} else {
		res.killMS, res.killUnit, res.killNote = ms(time.Since(start)), "ms waited, never", fmt.Sprintf("writes at A reach C: no, not in %s (ring stopped; B must be repaired or C re-pointed by hand)", wait)
	}
	return res, nil
}

func rowValue(c *client.Conn, k string) string {
	r, err := c.Execute("SELECT v FROM ringrows WHERE k = '" + k + "'")
	if err != nil || r.RowNumber() == 0 {
		if r != nil {
			r.Close()
		}
		return ""
	}
	defer r.Close()
	v, _ := r.GetString(0, 0)
	return strings.Clone(v)
}

func slaveError(c *client.Conn) string {
	r, err := c.Execute("SHOW SLAVE STATUS")
	if err != nil || r.RowNumber() == 0 {
		return ""
	}
	defer r.Close()
	v, _ := r.GetStringByName(0, "Last_SQL_Error")
	return strings.Clone(v)
}
