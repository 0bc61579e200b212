package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	mysqlbridge "github.com/pbxtopo/pbxtopo/replicator/mysql"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
	"github.com/pbxtopo/pbxtopo/store"
)

// MySQL measures the realtime bridge against real MariaDB servers: binlog
// rows taken into the store per second (anchor: go-mysql reading the same
// binlog and doing nothing with it), and rows written at cluster A's
// MariaDB reaching cluster B's MariaDB through two bridges and two stores
// (anchor: MariaDB's own master-master replication of the same workload).
func MySQL(ctx context.Context, env Env) ([]Result, error) {
	if err := mariadbtest.Available(); err != nil {
		return nil, fmt.Errorf("the mysql suite needs MariaDB: %w", err)
	}
	nIngest, batches, perBatch := 100_000, 200, 100
	if env.Quick {
		nIngest, batches = 5_000, 40
	}
	env.Param("ingest_rows", nIngest)
	env.Param("ingest_rows_per_transaction", 1000)
	env.Param("end_to_end_transactions", batches)
	env.Param("end_to_end_rows_per_transaction", perBatch)
	env.Param("bridged_path", "MariaDB A binlog, bridge, store tpa1, replicators in mesh over HTTP/2 mTLS on loopback, store tpa2, bridge, MariaDB B")
	out, err := mysqlIngest(ctx, env, nIngest)
	if err != nil {
		return out, err
	}
	native, err := nativeEndToEnd(ctx, env, batches, perBatch)
	if err != nil {
		return out, fmt.Errorf("MariaDB master-master: %w", err)
	}
	bridged, err := bridgedEndToEnd(ctx, env, batches, perBatch)
	if err != nil {
		return out, fmt.Errorf("bridged: %w", err)
	}
	n := float64(batches * perBatch)
	out = append(out,
		Result{Name: "MariaDB master-master, A to B", Value: n / native.total.Seconds(), Unit: "rows/s",
			Note: fmt.Sprintf("p99 lag %.1f ms, %d rows in %d transactions", ms(native.p99), batches*perBatch, batches)},
		Result{Name: "bridge A, replication transport, bridge B", Value: n / bridged.total.Seconds(), Unit: "rows/s",
			Anchor: "MariaDB master-master, A to B", AnchorValue: n / native.total.Seconds(), AnchorSettings: masterMasterSettings,
			Goal: ">= 10000 rows/s", Note: fmt.Sprintf("p99 lag %.1f ms", ms(bridged.p99))},
		Result{Name: "end-to-end p99 lag, bridged", Value: ms(bridged.p99), Unit: "ms",
			Anchor: "MariaDB master-master p99 lag", AnchorValue: ms(native.p99), AnchorSettings: masterMasterSettings, Goal: "< 250 ms"},
	)
	samples := 100
	if env.Quick {
		samples = 10
	}
	ast, err := mysqlToAsterisk(ctx, env, samples)
	if err != nil {
		return out, fmt.Errorf("ext set to pjsip show endpoint: %w", err)
	}
	return append(out, ast...), nil
}

const benchDB = "asterisk"

// masterMasterSettings is how the anchor's servers run (mariadbtest's
// options plus startMariaDB's), the bridged path's two servers too.
const masterMasterSettings = "two mariadbd on loopback, each CHANGE MASTER to the other at its binlog position, " +
	"binlog_format=ROW, log_slave_updates=0, auto_increment_increment=2, innodb_flush_method=nosync, " +
	"innodb_flush_log_at_trx_commit=2, sync_binlog=0, innodb_buffer_pool_size=64M; " +
	"the workload's INSERTs of 100 rows per transaction at A, B's COUNT(*) polled every millisecond"

func startMariaDB(env Env, name string, id int) (*mariadbtest.Server, error) {
	return startMariaDBArgs(env, name, id, "--log-slave-updates=0", "--auto-increment-increment=2", fmt.Sprintf("--auto-increment-offset=%d", id))
}

// startMariaDBArgs starts a server with the bench database and the guide's
// tables, passing args to mariadbd.
func startMariaDBArgs(env Env, name string, id int, args ...string) (*mariadbtest.Server, error) {
	s, err := mariadbtest.Start(filepath.Join(env.Dir, name), mariadbtest.Options{ServerID: id, Args: args})
	if err != nil {
		return nil, err
	}
	if err := s.Exec("", "CREATE DATABASE "+benchDB); err != nil {
		s.Stop()
		return nil, err
	}
	return s, s.Exec(benchDB, mysqlbridge.GuideDDL())
}

func benchStore(env Env, name, cluster string) (*store.Store, error) {
	cfg := store.DefaultConfig(filepath.Join(env.Dir, name+".db"))
	cfg.Replica = cluster
	return store.Open(cfg)
}

// seedClusters writes the site, clusters and group the rows refer to.
func seedClusters(ctx context.Context, st *store.Store) error {
	recs := []struct {
		t *pbx.Table
		f pbx.Fields
	}{
		{pbx.Sites, pbx.Fields{"name": "tpa"}},
		{pbx.Clusters, pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "192.168.0.218"}},
		{pbx.Clusters, pbx.Fields{"name": "tpa2", "site": "tpa", "voice_vip": "192.168.0.208"}},
		{pbx.Groups, pbx.Fields{"name": "USSales"}}, // an astgroup must name a group
	}
	var muts []store.Mutation
	for _, r := range recs {
		muts = append(muts, store.Mutation{Table: r.t.Name, Key: r.t.KeyOf(r.f), Value: r.f.AppendBinary(nil)})
	}
	_, err := st.Write(ctx, "bench", muts)
	return err
}

type runningBridge struct {
	b      *mysqlbridge.Bridge
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *runningBridge) stop() { r.cancel(); <-r.done }

func runBridge(ctx context.Context, env Env, st *store.Store, s *mariadbtest.Server, serverID uint32) (*runningBridge, error) {
	cfg := mysqlbridge.DefaultConfig()
	cfg.DSN = s.DSN(benchDB)
	cfg.ServerID = serverID
	lg := env.Log
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	b, err := mysqlbridge.New(cfg, mysqlbridge.Deps{Store: st, Logger: lg})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &runningBridge{b: b, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); b.Run(ctx) }()
	if err := poll(ctx, time.Minute, func() bool { return b.Status().Caught }); err != nil {
		r.stop()
		return nil, fmt.Errorf("bridge did not catch up: %v (%s)", err, b.Status().LastError)
	}
	return r, nil
}

func poll(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// insertRows inserts rows from..to-1 of cluster tpa1, per rows per
// transaction (one multi-row INSERT).
func insertRows(c *client.Conn, from, to, per int) error {
	for i := from; i < to; i += per {
		var b strings.Builder
		b.WriteString("INSERT INTO " + mysqlbridge.GuideTable + " (cluster, regexten, name, callerid, secret, context, astgroup, allow) VALUES ")
		for j := i; j < min(i+per, to); j++ {
			if j > i {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "('tpa1', '%d', 'User %d', 'User %d <%d>', 'hwtMazpRnvuS%04d', 'USSales1', 'USSales', 'ulaw,alaw')", 100000+j, j, j, 100000+j, j%10000)
		}
		if _, err := c.Execute(b.String()); err != nil {
			return err
		}
	}
	return nil
}

// mysqlIngest measures binlog rows taken into the store per second: the
// rows are written while the bridge is stopped, then it is started and
// reads them from the binlog.
func mysqlIngest(ctx context.Context, env Env, n int) ([]Result, error) {
	s, err := startMariaDB(env, "ingest", 1)
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	st, err := benchStore(env, "ingest", "tpa1")
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := seedClusters(ctx, st); err != nil {
		return nil, err
	}
	br, err := runBridge(ctx, env, st, s, 501)
	if err != nil {
		return nil, err
	}
	br.stop()
	c, err := s.Conn(benchDB)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	from, err := masterPos(c)
	if err != nil {
		return nil, err
	}
	if err := insertRows(c, 0, n, 1000); err != nil {
		return nil, err
	}
	raw, err := rawBinlogRate(ctx, s, from, n)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	br, err = runBridge(ctx, env, st, s, 502)
	if err != nil {
		return nil, err
	}
	defer br.stop()
	if err := poll(ctx, 10*time.Minute, func() bool { return br.b.Status().RowsIn >= uint64(n) }); err != nil {
		return nil, fmt.Errorf("ingest: %v (%+v)", err, br.b.Status())
	}
	rate := float64(n) / time.Since(start).Seconds()
	return []Result{
		{Name: "go-mysql reading the binlog, rows parsed only", Value: raw, Unit: "rows/s"},
		{Name: "binlog rows into the store (1000-row transactions)", Value: rate, Unit: "rows/s",
			Anchor: "go-mysql reading the binlog", AnchorValue: raw, Goal: ">= 20000 rows/s",
			Note: fmt.Sprintf("%d rows, checkpoint in the same store transaction", n)},
	}, nil
}

func masterPos(c *client.Conn) (gmysql.Position, error) {
	r, err := c.Execute("SHOW MASTER STATUS")
	if err != nil {
		return gmysql.Position{}, err
	}
	defer r.Close()
	file, _ := r.GetString(0, 0)
	pos, _ := r.GetInt(0, 1)
	return gmysql.Position{Name: strings.Clone(file), Pos: uint32(pos)}, nil
}

// rawBinlogRate reads n rows of row events from pos with go-mysql alone.
func rawBinlogRate(ctx context.Context, s *mariadbtest.Server, pos gmysql.Position, n int) (float64, error) {
	port, _ := strconv.Atoi(strings.TrimPrefix(s.Addr(), "127.0.0.1:"))
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: 599, Flavor: "mariadb",
		Host: "127.0.0.1", Port: uint16(port), User: "root", Logger: slog.New(slog.DiscardHandler)})
	defer syncer.Close()
	start := time.Now()
	streamer, err := syncer.StartSync(pos)
	if err != nil {
		return 0, err
	}
	rows := 0
	for rows < n {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		ev, err := streamer.GetEvent(ctx)
		cancel()
		if err != nil {
			return 0, err
		}
		if re, ok := ev.Event.(*replication.RowsEvent); ok && string(re.Table.Table) == mysqlbridge.GuideTable {
			rows += len(re.Rows)
		}
	}
	return float64(rows) / time.Since(start).Seconds(), nil
}

// e2e is the outcome of one end-to-end run.
type e2e struct {
	total time.Duration
	p99   time.Duration
}

// workload writes batches at A and watches B's row count; each batch's lag
// is from its commit at A to B holding it.
func workload(ctx context.Context, a, b *mariadbtest.Server, batches, per int) (e2e, error) {
	ca, err := a.Conn(benchDB)
	if err != nil {
		return e2e{}, err
	}
	defer ca.Close()
	cb, err := b.Conn(benchDB)
	if err != nil {
		return e2e{}, err
	}
	defer cb.Close()
	committedAt := make(chan time.Time, batches) // one per batch, in order
	var committed []time.Time
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		for i := range batches {
			if err := insertRows(ca, i*per, (i+1)*per, per); err != nil {
				errc <- err
				return
			}
			committedAt <- time.Now()
		}
		errc <- nil
	}()
	var lags []time.Duration
	seen := 0
	deadline := time.Now().Add(5 * time.Minute)
	for seen < batches {
		select {
		case err := <-errc:
			if err != nil {
				return e2e{}, err
			}
		default:
		}
		if time.Now().After(deadline) {
			return e2e{}, fmt.Errorf("only %d of %d batches arrived in 5 minutes", seen, batches)
		}
		r, err := cb.Execute("SELECT COUNT(*) FROM " + mysqlbridge.GuideTable)
		if err != nil {
			return e2e{}, err
		}
		cnt, _ := r.GetInt(0, 0)
		r.Close()
		now := time.Now()
		for seen < batches && int(cnt) >= (seen+1)*per {
			// B holds the batch, so A committed it: its time is sent or
			// about to be.
			for len(committed) <= seen {
				committed = append(committed, <-committedAt)
			}
			lags = append(lags, now.Sub(committed[seen]))
			seen++
		}
		time.Sleep(time.Millisecond)
	}
	return e2e{total: time.Since(start), p99: Percentile(lags, 99)}, nil
}

// nativeEndToEnd runs the workload over MariaDB's own replication, both
// servers replicating from each other as the guide's master-master pairs.
func nativeEndToEnd(ctx context.Context, env Env, batches, per int) (e2e, error) {
	a, err := startMariaDB(env, "native-a", 11)
	if err != nil {
		return e2e{}, err
	}
	defer a.Stop()
	b, err := startMariaDB(env, "native-b", 12)
	if err != nil {
		return e2e{}, err
	}
	defer b.Stop()
	for _, p := range [][2]*mariadbtest.Server{{a, b}, {b, a}} {
		if err := replicateFrom(p[0], p[1]); err != nil {
			return e2e{}, err
		}
	}
	return workload(ctx, a, b, batches, per)
}

// replicateFrom makes replica a slave of master from master's current
// binlog position.
func replicateFrom(replica, master *mariadbtest.Server) error {
	port := strings.TrimPrefix(master.Addr(), "127.0.0.1:")
	c, err := master.Conn("")
	if err != nil {
		return err
	}
	pos, err := masterPos(c)
	c.Close()
	if err != nil {
		return err
	}
	return replica.Exec("", fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, MASTER_USER='root', MASTER_PASSWORD='', MASTER_LOG_FILE='%s', MASTER_LOG_POS=%d, MASTER_USE_GTID=no", port, pos.Name, pos.Pos),
		"START SLAVE")
}

// bridgedEndToEnd runs the workload through bridge A, store A, the
// replicators of clusters A and B over the replication transport (HTTP/2
// with mutual TLS on loopback, as between agents), store B and bridge B.
func bridgedEndToEnd(ctx context.Context, env Env, batches, per int) (e2e, error) {
	ma, err := startMariaDB(env, "bridged-a", 21)
	if err != nil {
		return e2e{}, err
	}
	defer ma.Stop()
	mb, err := startMariaDB(env, "bridged-b", 22)
	if err != nil {
		return e2e{}, err
	}
	defer mb.Stop()
	e, err := newEnterpriseOf(filepath.Join(env.Dir, "bridged"), replicator.Mesh, []string{"tpa1", "tpa2"})
	if err != nil {
		return e2e{}, err
	}
	defer e.close()
	sa, sb := e.stores[0], e.stores[1]
	if err := seedClusters(ctx, sa); err != nil {
		return e2e{}, err
	}
	e.run(0)
	e.run(1)
	if err := poll(ctx, time.Minute, func() bool { _, ok, _ := sb.Get("clusters", "tpa2"); return ok }); err != nil {
		return e2e{}, fmt.Errorf("cluster tpa2 never received the seeded clusters over the replication transport: %w", err)
	}
	ba, err := runBridge(ctx, env, sa, ma, 601)
	if err != nil {
		return e2e{}, err
	}
	defer ba.stop()
	bb, err := runBridge(ctx, env, sb, mb, 602)
	if err != nil {
		return e2e{}, err
	}
	defer bb.stop()
	return workload(ctx, ma, mb, batches, per)
}
