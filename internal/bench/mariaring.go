package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
)

// mariaRing is the anchor of the pbxtopo ring: three MariaDB servers in
// circular replication (A → B → C → A, log_slave_updates), the glue
// pbxtopo replaces. It measures rows/s and lag from A to C (two hops),
// then records what the ring does with the same row written at two
// members at once, and with its middle member killed.
func mariaRing(ctx context.Context, env Env, batches, per int) (rate float64, out []Result, err error) {
	if err := mariadbtest.Available(); err != nil {
		return 0, []Result{{Name: "MariaDB ring of 3 (anchor)", Note: "skipped: " + err.Error()}}, nil
	}
	var ring [3]*mariadbtest.Server
	for i, name := range []string{"ring-a", "ring-b", "ring-c"} {
		if ring[i], err = startMariaDBArgs(env, name, 31+i, "--log-slave-updates=1", "--auto-increment-increment=3",
			fmt.Sprintf("--auto-increment-offset=%d", i+1)); err != nil {
			return 0, nil, err
		}
		defer ring[i].Stop()
	}
	a, b, c := ring[0], ring[1], ring[2]
	for _, p := range [][2]*mariadbtest.Server{{b, a}, {c, b}, {a, c}} {
		if err := replicateFrom(p[0], p[1]); err != nil {
			return 0, nil, err
		}
	}
	res, err := workload(ctx, a, c, batches, per)
	if err != nil {
		return 0, nil, fmt.Errorf("MariaDB ring: %w", err)
	}
	rate = float64(batches*per) / res.total.Seconds()
	out = append(out,
		Result{Name: "MariaDB ring of 3, A to C (two hops): rows/s", Value: rate, Unit: "rows/s",
			Note: fmt.Sprintf("%d rows in %d transactions", batches*per, batches)},
		Result{Name: "MariaDB ring of 3, A to C: p99 lag", Value: ms(res.p99), Unit: "ms"})

	// The same row written at A and at C at once.
	conflict, err := sameRowAtOnce(a, c, ring[:])
	if err != nil {
		return rate, out, err
	}
	out = append(out, Result{Name: "MariaDB ring: the same row updated at A and C at once", Note: conflict +
		"; pbxtopo: one conflict, the same winner everywhere, both versions shown (chaos checker, TestFixedSeeds)"})

	// The middle member dies.
	b.Kill()
	before := countRows(c)
	if err := a.Exec(benchDB, "INSERT INTO extensions (cluster, regexten, name) VALUES ('tpa1', '999999', 'after B died')"); err != nil {
		return rate, out, err
	}
	reached := poll(ctx, 5*time.Second, func() bool { return countRows(c) > before }) == nil
	note := "writes at A reach C: no, the ring stopped at the dead member (until an admin repoints C's replication)"
	if reached {
		note = "writes at A reach C: yes"
	}
	out = append(out, Result{Name: "MariaDB ring: member B killed", Note: note +
		"; pbxtopo: the ring skips the dead member and catches it up when it returns (TestRingSurvivesSIGKILL)"})
	return rate, out, nil
}

// sameRowAtOnce updates one row at two members at the same moment, waits
// for the ring to settle, and says what each member holds.
func sameRowAtOnce(a, c *mariadbtest.Server, ring []*mariadbtest.Server) (string, error) {
	errc := make(chan error, 2)
	for _, m := range []struct {
		s    *mariadbtest.Server
		name string
	}{{a, "written at A"}, {c, "written at C"}} {
		go func() {
			errc <- m.s.Exec(benchDB, fmt.Sprintf("UPDATE extensions SET name = '%s' WHERE regexten = '100000'", m.name))
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			return "", err
		}
	}
	names := func() []string {
		var out []string
		for _, s := range ring {
			out = append(out, rowName(s))
		}
		return out
	}
	// Settle: the same answer twice, 200 ms apart, or 5 s.
	last := names()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		now := names()
		if strings.Join(now, "|") == strings.Join(last, "|") {
			break
		}
		last = now
	}
	verdict := "the members diverged, silently"
	if last[0] == last[1] && last[1] == last[2] {
		verdict = "the members agree; one write was lost without a trace"
	}
	return fmt.Sprintf("A holds %q, B %q, C %q: %s", last[0], last[1], last[2], verdict), nil
}

func rowName(s *mariadbtest.Server) string {
	c, err := s.Conn(benchDB)
	if err != nil {
		return "?"
	}
	defer c.Close()
	r, err := c.Execute("SELECT name FROM extensions WHERE regexten = '100000'")
	if err != nil || r.RowNumber() == 0 {
		return "?"
	}
	v, _ := r.GetString(0, 0)
	return v
}

func countRows(s *mariadbtest.Server) int {
	c, err := s.Conn(benchDB)
	if err != nil {
		return -1
	}
	defer c.Close()
	return countWith(c)
}

func countWith(c *client.Conn) int {
	r, err := c.Execute("SELECT COUNT(*) FROM extensions")
	if err != nil {
		return -1
	}
	n, _ := r.GetInt(0, 0)
	return int(n)
}
