package bench

import (
	"context"
	"fmt"
	"strconv"
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

// MariaDB's settings in the anchor rings. Durable matches pbxtopo, whose
// stores fsync every commit before it is acknowledged: InnoDB flushes its
// log at every commit and the binary log is synced at every commit (both
// group commits). Relaxed is what a MariaDB ring is often run with:
// flushed about once a second, so a crash loses the last second.
var (
	mariaDurable = []string{"--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1", "--innodb-flush-method=O_DIRECT"}
	mariaRelaxed = []string{"--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0", "--innodb-flush-method=O_DIRECT"}
)

// replAnchor measures the anchor of the repl suite: a ring of three
// mariadbd on loopback with circular replication (A→B→C→A), the same 32
// writers upserting rows at A, at pbxtopo's durability and then relaxed;
// and what it does when B dies and when one row is written at A and C at
// once, next to pbxtopo's ring of three. ring3 (pbxtopo's ring-of-3
// rows) get the durable MariaDB figures of the same quantity as anchors.
func replAnchor(ctx context.Context, env Env, ring3 []Result, d time.Duration) ([]Result, error) {
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
		return append(out, failed("MariaDB ring of 3 (the anchor)", err)), err
	}
	durable, err := mariaRing(ctx, env, "durable", mariaDurable, d, wait, true)
	if err != nil {
		return append(out, failed("MariaDB ring of 3, durable", err)), fmt.Errorf("MariaDB ring: %w", err)
	}
	relaxed, err := mariaRing(ctx, env, "relaxed", mariaRelaxed, d, wait, false)
	if err != nil {
		return append(out, failed("MariaDB ring of 3, relaxed", err)), fmt.Errorf("MariaDB ring: %w", err)
	}
	settings := func(r mariaRingResult) string {
		return fmt.Sprintf("%s, 3 servers in a ring A→B→C→A, log_slave_updates, binlog ROW, %s, 64 MB buffer pool, one applier "+
			"thread per replica; %d clients INSERT … ON DUPLICATE KEY UPDATE new rows at A for %v; visible: @@gtid_slave_pos of B "+
			"and C polled every ms (a poll took %.2f ms on average)",
			r.version, strings.Join(r.args, " "), replWriters, d, ms(r.poll))
	}
	anchorFlow(ring3, "MariaDB ring of 3, durable", durable.flow, settings(durable))
	out = append(out, durable.flow.rows(fmt.Sprintf("MariaDB ring of 3, durable, %d writers at A", replWriters), "rows/s", "", "")...)
	out = append(out, relaxed.flow.rows(fmt.Sprintf("MariaDB ring of 3, relaxed (flushed once a second), %d writers at A", replWriters), "rows/s", "", "")...)
	out[len(out)-8].Note = join(out[len(out)-8].Note, "the anchor of pbxtopo's ring of 3 (settings under anchors)")
	out[len(out)-4].Note = join(out[len(out)-4].Note, settings(relaxed))
	if durable.flow.err != nil || relaxed.flow.err != nil {
		err = fmt.Errorf("MariaDB rows did not reach every member")
	}
	return append(out,
		Result{Name: "MariaDB ring of 3: member B killed, a write at A reaches C", Value: durable.killMS, Unit: durable.killUnit, Note: durable.killNote},
		Result{Name: "MariaDB ring of 3: same row written at A and C at once", Unit: "-", Note: durable.conflict},
	), err
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
	flow     flow
	version  string
	args     []string
	poll     time.Duration // the mean time of one visibility poll
	killMS   float64
	killNote string
	killUnit string
	conflict string
}

// mariaRing starts a MariaDB ring with args, runs the writers at A and
// measures the flow; with faults, also the conflict and the dead member.
func mariaRing(ctx context.Context, env Env, label string, args []string, d, wait time.Duration, faults bool) (mariaRingResult, error) {
	res := mariaRingResult{args: args}
	names := []string{"A", "B", "C"}
	var srv []*mariadbtest.Server
	defer func() {
		for _, s := range srv {
			s.Stop()
		}
	}()
	for i, name := range names {
		s, err := startMariaDBArgs(env, "ring-"+label+"-"+name, 31+i, append([]string{"--log-slave-updates=1",
			"--auto-increment-increment=3", fmt.Sprintf("--auto-increment-offset=%d", i+1)}, args...)...)
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
	conns := make([]*client.Conn, replWriters)
	for w := range conns {
		c, err := srv[0].Conn(benchDB)
		if err != nil {
			return res, err
		}
		defer c.Close()
		conns[w] = c
	}
	if r, err := conns[0].Execute("SELECT VERSION()"); err == nil {
		v, _ := r.GetString(0, 0)
		res.version = "MariaDB " + strings.Clone(v)
		r.Close()
	}
	base, err := gtidSeq(conns[0], "@@gtid_binlog_pos", srv[0].ServerID)
	if err != nil {
		return res, err
	}
	// A's transactions are numbered in commit order (their GTIDs); B and
	// C apply them in that order with one thread. The n-th acknowledged
	// row is taken as visible at a member once the member has applied n
	// of A's transactions.
	const maxN = 1 << 21
	acked := make([]int64, maxN)
	var nAcked atomic.Int64
	visible := [3][]int64{nil, make([]int64, maxN), make([]int64, maxN)}
	seen := [3]atomic.Int64{}
	stop := make(chan struct{})
	var watchers sync.WaitGroup
	var watchErr atomic.Value
	var polls, pollTime atomic.Int64
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
				t0 := time.Now()
				applied, err := gtidSeq(c, "@@gtid_slave_pos", srv[0].ServerID)
				if err != nil {
					watchErr.Store(err)
					return
				}
				now := time.Now()
				polls.Add(1)
				pollTime.Add(int64(now.Sub(t0)))
				for s := seen[m].Load(); s < applied-base && s < maxN-1; {
					s++
					visible[m][s] = now.UnixNano()
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
	res.flow.acked, _, err = rate(ctx, replWriters, d, func(w, i int) error {
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
		watchers.Wait()
		return res, err
	}
	total := nAcked.Load()
	res.flow.n = int(total)
	if total >= maxN {
		close(stop)
		watchers.Wait()
		return res, fmt.Errorf("%d rows: more than the %d the lag measurement holds", total, maxN-1)
	}
	werr := poll(ctx, replSettle, func() bool { return seen[1].Load() >= total && seen[2].Load() >= total })
	close(stop)
	watchers.Wait()
	if err, ok := watchErr.Load().(error); ok {
		return res, err
	}
	if n := polls.Load(); n > 0 {
		res.poll = time.Duration(pollTime.Load() / n)
	}
	if werr != nil {
		res.flow.err = fmt.Errorf("rows did not reach every member within %v of the writers stopping: B %d, C %d of %d",
			replSettle, seen[1].Load(), seen[2].Load(), total)
	} else {
		var lags []time.Duration
		var lastVisible int64
		for n := int64(1); n <= total; n++ {
			v := max(visible[1][n], visible[2][n])
			lags = append(lags, time.Duration(max(v-acked[n], 0)))
			lastVisible = max(lastVisible, v)
		}
		res.flow.visible = float64(total) / time.Duration(lastVisible-began).Seconds()
		res.flow.p50, res.flow.p99 = Percentile(lags, 50), Percentile(lags, 99)
	}
	if !faults {
		return res, nil
	}

	// The same row at A and C at once.
	a := conns[0]
	c, err := srv[2].Conn(benchDB)
	if err != nil {
		return res, err
	}
	defer c.Close()
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

// gtidSeq returns the sequence number of the last transaction of server
// id in a GTID position variable ("0-31-1234,1-32-7"): how many of its
// transactions a member holds.
func gtidSeq(c *client.Conn, variable string, id int) (int64, error) {
	r, err := c.Execute("SELECT " + variable)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	pos, _ := r.GetString(0, 0)
	for _, g := range strings.Split(pos, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) == 3 && parts[1] == strconv.Itoa(id) {
			return strconv.ParseInt(parts[2], 10, 64)
		}
	}
	return 0, nil
}
