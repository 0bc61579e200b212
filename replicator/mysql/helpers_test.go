package mysql

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
	"github.com/pbxtopo/pbxtopo/store"
)

// One mariadbd serves the whole package; each test has its own database.
var (
	server    *mariadbtest.Server
	serverErr error
	dbSeq     atomic.Int64
)

func TestMain(m *testing.M) {
	code := func() int {
		if err := mariadbtest.Available(); err != nil {
			serverErr = err
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "pbxtopo-mariadb-")
		if err != nil {
			serverErr = err
			return m.Run()
		}
		defer os.RemoveAll(dir)
		server, serverErr = mariadbtest.Start(dir, mariadbtest.Options{ServerID: 1})
		if server != nil {
			defer server.Stop()
		}
		return m.Run()
	}()
	os.Exit(code)
}

// needServer skips a test when MariaDB is not installed.
func needServer(t testing.TB) *mariadbtest.Server {
	t.Helper()
	if serverErr != nil {
		t.Skipf("no MariaDB for the bridge tests: %v", serverErr)
	}
	return server
}

// newDB creates a fresh database with the given tables.
func newDB(t testing.TB, ddl ...string) string {
	t.Helper()
	s := needServer(t)
	db := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := s.Exec("", "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(db, ddl...); err != nil {
		t.Fatal(err)
	}
	return db
}

func sqlExec(t testing.TB, db string, stmts ...string) {
	t.Helper()
	if err := server.Exec(db, stmts...); err != nil {
		t.Fatal(err)
	}
}

// sqlRows returns the rows of a query as strings ("NULL" for NULL).
func sqlRows(t testing.TB, db, q string) [][]string {
	t.Helper()
	c, err := server.Conn(db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := queryStrings(c, q)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		for _, v := range r {
			if v == nil {
				out[i] = append(out[i], "NULL")
			} else {
				out[i] = append(out[i], *v)
			}
		}
	}
	return out
}

func sqlValue(t testing.TB, db, q string) string {
	t.Helper()
	rows := sqlRows(t, db, q)
	if len(rows) == 0 {
		return ""
	}
	return rows[0][0]
}

var bg = context.Background()

// newStore opens a store of cluster with the sample sites and clusters.
func newStore(t testing.TB, cluster string) *store.Store {
	t.Helper()
	st := testutil.Store(t, cluster)
	seed := []struct {
		t *pbx.Table
		f pbx.Fields
	}{
		{pbx.Sites, pbx.Fields{"name": "tpa"}},
		{pbx.Sites, pbx.Fields{"name": "sfo"}},
		{pbx.Clusters, pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "192.168.0.218"}},
		{pbx.Clusters, pbx.Fields{"name": "tpa2", "site": "tpa", "voice_vip": "192.168.0.208"}},
		{pbx.ACLs, pbx.Fields{"name": "internal_phones", "networks": "127.0.0.0/8"}},
	}
	// Only tpa1 seeds them; the others get them by pulling, as a real
	// enterprise would.
	if cluster == "tpa1" {
		var muts []store.Mutation
		for _, s := range seed {
			muts = append(muts, store.Mutation{Table: s.t.Name, Key: s.t.KeyOf(s.f), Value: s.f.AppendBinary(nil)})
		}
		if _, err := st.Write(bg, "seed", muts); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// pull brings dst up to date with src, as the replicator would.
func pull(t testing.TB, dst, src *store.Store) {
	t.Helper()
	all := func(store.Stream) bool { return true }
	for range 1000 {
		b, err := src.ChangesSince(dst.Summary(), all, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if b.NeedSnapshot {
			t.Fatal("pull needs a snapshot")
		}
		if len(b.Changes) == 0 {
			return
		}
		res, err := dst.Apply(bg, b.Changes)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stopped {
			t.Fatalf("apply from %s stopped at %s", src.Replica(), res.Missing)
		}
	}
	t.Fatal("pull did not finish")
}

// testConfig returns a bridge config for db with fast retries.
func testConfig(db, mapping string) Config {
	cfg := DefaultConfig()
	cfg.DSN = server.DSN(db)
	cfg.Mapping = mapping
	cfg.ServerID = uint32(1000 + dbSeq.Add(1))
	cfg.MinBackoff = 20 * time.Millisecond
	cfg.MaxBackoff = 200 * time.Millisecond
	return cfg
}

// running is a bridge run by a test.
type running struct {
	*Bridge
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

func startBridge(t testing.TB, st *store.Store, cfg Config) *running {
	t.Helper()
	b, err := New(cfg, Deps{Store: st, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	r := &running{Bridge: b, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := b.Run(ctx); err != nil {
			t.Errorf("bridge: %v", err)
		}
	}()
	t.Cleanup(r.stop)
	waitFor(t, "the bridge to catch up with the binlog", func() bool { return b.Status().Caught })
	return r
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("waited %v for %s", time.Since(start).Round(time.Millisecond), what) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fields reads a record's winning fields (nil when absent or deleted).
func fields(t testing.TB, st *store.Store, key string) pbx.Fields {
	t.Helper()
	f, ok, err := st.Get("extensions", key)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return nil
	}
	return f
}

func record(t testing.TB, st *store.Store, key string) *store.Record {
	t.Helper()
	var r *store.Record
	if err := st.View(func(sn *store.Snapshot) error {
		var err error
		r, err = sn.Get("extensions", key)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// ownChanges counts the changes made at st's own cluster.
// ownChanges counts the changes made at st, as committed (the in-memory
// summary is published a moment after a commit, which made counts race).
func ownChanges(st *store.Store) uint64 {
	var n uint64
	st.View(func(sn *store.Snapshot) error {
		sum, err := sn.Summary()
		n = sum[st.Stream("extensions")]
		return err
	})
	return n
}

// putExt writes an extension at st as an admin would.
func putExt(t testing.TB, st *store.Store, kv ...string) store.Dot {
	t.Helper()
	f := pbx.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	var full pbx.Fields
	err := st.View(func(sn *store.Snapshot) error {
		var err error
		full, err = pbx.Extensions.Prepare(f, sn.Catalog())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Write(bg, "admin", []store.Mutation{{Table: "extensions", Key: pbx.Extensions.KeyOf(full), Value: full.AppendBinary(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Dots[0]
}

func delExt(t testing.TB, st *store.Store, key string) {
	t.Helper()
	if _, err := st.Write(bg, "admin", []store.Mutation{{Table: "extensions", Key: key}}); err != nil {
		t.Fatal(err)
	}
}

func guideInsert(cluster, number, name string) string {
	return fmt.Sprintf("INSERT INTO pbxtopo_extensions (cluster, regexten, name, secret, context) VALUES ('%s', '%s', '%s', 'S3cret-%s', 'sales')", cluster, number, name, number)
}

// putCluster adds a cluster (and its site) at st.
func putCluster(t testing.TB, st *store.Store, name, site string) {
	t.Helper()
	s := pbx.Fields{"name": site}
	c := pbx.Fields{"name": name, "site": site, "voice_vip": "10.9.9.9"}
	if _, err := st.Write(bg, "admin", []store.Mutation{
		{Table: "sites", Key: site, Value: s.AppendBinary(nil)},
		{Table: "clusters", Key: name, Value: c.AppendBinary(nil)},
	}); err != nil {
		t.Fatal(err)
	}
}
