package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/internal/astrun"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/internal/testnet"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/asteriskdb"
	"github.com/pbxtopo/pbxtopo/replicator/mysql/mariadbtest"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/spf13/viper"
)

// mysqlToAsterisk measures, through two real agents, the seconds from an
// 'ext set' at cluster tpa2 (its agent's service) to the extension in
// 'pjsip show endpoint' of tpa1's real Asterisk, which reads tpa1's
// MariaDB (Asterisk's own schema, over ODBC) that tpa1's bridge writes.
// The anchor, in the same run: MariaDB's own master-master replication of
// the same ps_endpoints row from tpa2's MariaDB to tpa1's.
func mysqlToAsterisk(ctx context.Context, env Env, samples int) ([]Result, error) {
	if _, err := astrun.Tree(); err != nil {
		return nil, fmt.Errorf("the Asterisk side needs the project's Asterisk: %w", err)
	}
	here, err := startMariaDB(env, "ast-here", 31)
	if err != nil {
		return nil, err
	}
	defer here.Stop()
	there, err := startMariaDB(env, "ast-there", 32)
	if err != nil {
		return nil, err
	}
	defer there.Stop()
	schema, err := asteriskdb.Load()
	if err != nil {
		return nil, err
	}
	// "asterisk" is tpa1's realtime database (the bridge's); "anchor"
	// holds the same tables on both servers for MariaDB's own replication.
	for _, s := range []*mariadbtest.Server{here, there} {
		for _, db := range []string{"ast1", "anchor"} {
			if err := s.Exec("", "CREATE DATABASE "+db); err != nil {
				return nil, err
			}
			if err := schema.Create(func(q ...string) error { return s.Exec(db, q...) }); err != nil {
				return nil, err
			}
		}
	}
	if err := replicateFrom(here, there); err != nil {
		return nil, err
	}
	if err := replicateFrom(there, here); err != nil {
		return nil, err
	}
	ast, err := astrun.Start(ctx, astrun.Options{Env: []string{"ODBC_DSN=asterisk", "ODBC_SERVER=127.0.0.1",
		"ODBC_PORT=" + strconv.Itoa(here.Port), "ODBC_DATABASE=ast1", "ODBC_USER=root", "ODBC_PASSWORD="}})
	if err != nil {
		return nil, fmt.Errorf("tpa1's Asterisk: %w", err)
	}
	defer ast.Stop()

	agents, stop, err := startBenchAgents(ctx, env, map[string]map[string]any{
		"tpa1": {"mysql.dsn": here.DSN("ast1"), "mysql.mapping": "pjsip", "mysql.min_backoff": "50ms"},
		"tpa2": {},
	})
	if err != nil {
		return nil, err
	}
	defer stop()
	tpa1, tpa2 := agents[0], agents[1]
	svc := tpa2.Service()
	for _, r := range []struct {
		table string
		f     pbx.Fields
	}{
		{"sites", pbx.Fields{"name": "tpa"}},
		{"clusters", pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "127.0.0.1"}},
		{"clusters", pbx.Fields{"name": "tpa2", "site": "tpa", "voice_vip": "127.0.0.1"}},
	} {
		if _, err := svc.Put(ctx, r.table, r.f, service.PutOptions{Must: store.MustNotExist}); err != nil {
			return nil, err
		}
	}
	if err := poll(ctx, time.Minute, func() bool {
		_, err := tpa1.Service().Get(ctx, "clusters", "tpa2")
		return err == nil
	}); err != nil {
		return nil, fmt.Errorf("tpa1 did not receive tpa2's writes: %w", err)
	}
	hereConn, err := here.Conn("anchor")
	if err != nil {
		return nil, err
	}
	defer hereConn.Close()
	thereConn, err := there.Conn("anchor")
	if err != nil {
		return nil, err
	}
	defer thereConn.Close()

	bridgeConn, err := here.Conn("ast1")
	if err != nil {
		return nil, err
	}
	defer bridgeConn.Close()
	var viaAgents, inDB, native []time.Duration
	var cliCost time.Duration
	for i := 0; i < samples; i++ {
		number := strconv.Itoa(7000 + i)
		f := pbx.Fields{"cluster": "tpa1", "regexten": number, "name": "Bench " + number, "secret": "Bench-pw" + number, "context": "sales"}
		start := time.Now()
		if _, err := svc.Put(ctx, "extensions", f, service.PutOptions{}); err != nil {
			return nil, err
		}
		// The row in tpa1's MariaDB first (polled every millisecond), then
		// in Asterisk (one asterisk -rx, tens of ms, per look).
		if err := poll(ctx, 30*time.Second, func() bool { return countRows(bridgeConn, number) == 1 }); err != nil {
			return nil, fmt.Errorf("extension %s never reached tpa1's MariaDB: %w", number, err)
		}
		inDB = append(inDB, time.Since(start))
		var cli time.Duration
		calls := 0
		err := poll(ctx, 30*time.Second, func() bool {
			t := time.Now()
			out, err := ast.CLI("pjsip show endpoint " + number)
			cli += time.Since(t)
			calls++
			return err == nil && strings.Contains(out, number+"/"+number)
		})
		if err != nil {
			rs, _ := tpa1.Service().ReplStatus(ctx)
			detail := "no bridge status"
			if rs != nil && rs.MySQL != nil {
				detail = fmt.Sprintf("bridge %s, %d parked, last error %q", rs.MySQL.State, len(rs.MySQL.Parked), rs.MySQL.LastError)
			}
			return nil, fmt.Errorf("extension %s never showed in pjsip show endpoint (%s): %w", number, detail, err)
		}
		viaAgents = append(viaAgents, time.Since(start))
		cliCost += cli / time.Duration(calls)

		// The same row, written at tpa2's MariaDB, replicated by MariaDB.
		row := fmt.Sprintf("INSERT INTO ps_endpoints (id, aors, auth, context, callerid) VALUES ('%s', '%s', '%s', 'sales', 'Bench %s')", number, number, number, number)
		start = time.Now()
		if _, err := thereConn.Execute(row); err != nil {
			return nil, err
		}
		err = poll(ctx, 30*time.Second, func() bool { return countRows(hereConn, number) == 1 })
		if err != nil {
			return nil, fmt.Errorf("MariaDB did not replicate row %s: %w", number, err)
		}
		native = append(native, time.Since(start))
	}
	anchor := "MariaDB master-master, the same row"
	note := fmt.Sprintf("%d extensions; ext set at tpa2's agent → tpa1's agent → bridge → MariaDB → ODBC → pjsip show endpoint (one asterisk -rx takes %.0f ms)",
		samples, ms(cliCost/time.Duration(samples)))
	return []Result{
		{Name: "ext set at tpa2 to pjsip show endpoint at tpa1, p50", Value: Percentile(viaAgents, 50).Seconds(), Unit: "s",
			Anchor: anchor + ", p50", AnchorValue: Percentile(native, 50).Seconds(), Note: note},
		{Name: "ext set at tpa2 to pjsip show endpoint at tpa1, p99", Value: Percentile(viaAgents, 99).Seconds(), Unit: "s",
			Anchor: anchor + ", p99", AnchorValue: Percentile(native, 99).Seconds()},
		{Name: "ext set at tpa2 to the row in tpa1's MariaDB, p50", Value: Percentile(inDB, 50).Seconds(), Unit: "s",
			Anchor: anchor + ", p50", AnchorValue: Percentile(native, 50).Seconds(),
			Note: fmt.Sprintf("p99 %.3f s (MariaDB %.3f s)", Percentile(inDB, 99).Seconds(), Percentile(native, 99).Seconds())},
	}, nil
}

// countRows counts the ps_endpoints rows of a number.
func countRows(c *client.Conn, number string) int64 {
	r, err := c.Execute("SELECT COUNT(*) FROM ps_endpoints WHERE id = '" + number + "'")
	if err != nil {
		return -1
	}
	defer r.Close()
	n, _ := r.GetInt(0, 0)
	return n
}

// startBenchAgents runs one in-process agent per cluster (Raft, Serf,
// replication over mutual TLS, on free loopback ports), the first one's
// gossip address joined by the others, with extra config keys per
// cluster, in the order of the names sorted.
func startBenchAgents(ctx context.Context, env Env, clusters map[string]map[string]any) ([]*agent.Agent, func(), error) {
	caDir := filepath.Join(env.Dir, "agents-ca")
	if err := pki.CreateCA(caDir, "bench CA", time.Hour); err != nil {
		return nil, nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	names := make([]string, 0, len(clusters))
	for n := range clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	ctx, cancel := context.WithCancel(ctx)
	var agents []*agent.Agent
	var done []chan error
	stop := func() {
		cancel()
		for _, d := range done {
			<-d
		}
	}
	var join []string
	for _, c := range names {
		dir := filepath.Join(env.Dir, "agent-"+c)
		cert, keyFile, err := pki.CreateCert(caDir, dir, pki.CertRequest{Cluster: c, Node: c + "-1", Validity: time.Hour})
		if err != nil {
			stop()
			return nil, nil, err
		}
		v := viper.New()
		agent.Defaults(v)
		serf := freeLoopback()
		for k, val := range map[string]any{"cluster": c, "site": c, "node": c + "-1", "data_dir": filepath.Join(dir, "data"),
			"http_addr": "127.0.0.1:0", "repl_addr": freeLoopback(), "serf_addr": serf, "raft_addr": freeLoopback(), "dns_addr": freeLoopback(),
			"tls.ca": filepath.Join(caDir, pki.CAFile), "tls.cert": cert, "tls.key": keyFile, "join": join,
			"replication.pull_wait": "1s", "gossip.probe_interval": "200ms", "gossip.key": base64.StdEncoding.EncodeToString(key)} {
			v.Set(k, val)
		}
		for k, val := range clusters[c] {
			v.Set(k, val)
		}
		cfg, err := agent.LoadConfig(v)
		if err != nil {
			stop()
			return nil, nil, err
		}
		a, err := agent.New(cfg, slog.New(slog.DiscardHandler), agent.Options{})
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("agent %s: %w", c, err)
		}
		d := make(chan error, 1)
		go func() { d <- a.Run(ctx) }()
		agents, done = append(agents, a), append(done, d)
		join = []string{serf}
	}
	return agents, stop, nil
}

// freeLoopback is a 127.0.0.1 address whose port is free for TCP and UDP
// (port 0 if none is: the agent then says which it could not bind).
func freeLoopback() string {
	addr, err := testnet.Free("127.0.0.1")
	if err != nil {
		return "127.0.0.1:0"
	}
	return addr
}
