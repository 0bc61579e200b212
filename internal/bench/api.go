package bench

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// API measures extension searches over 100,000 records through the HTTP
// API with 50 concurrent clients, next to the same searches on the service
// in process (the anchor: what HTTP and JSON add).
func API(ctx context.Context, env Env) ([]Result, error) {
	n, d := 100_000, 5*time.Second
	if env.Quick {
		n, d = 5_000, 500*time.Millisecond
	}
	env.Param("extensions", n)
	env.Param("clients", 50)
	env.Param("duration", d)
	env.Param("page", 50)
	files, err := Enterprise{Clusters: 10, Extensions: n, Roaming: 0.3, Seed: 3}.Write(env.Dir)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(storeConfig(filepath.Join(env.Dir, "api.db")))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc := service.NewService(st)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		table := strings.TrimSuffix(filepath.Base(f), ".csv")
		_, err = svc.Import(ctx, service.ImportRequest{Table: table, Source: f}, fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	srv := httptest.NewUnstartedServer(httpapi.Handler(svc, nil))
	var conns atomic.Int64 // connections the clients opened
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client, err := httpapi.NewClient(srv.URL, "")
	if err != nil {
		return nil, err
	}
	// A mix of what a NOC does: by number, by name, by group and cluster,
	// sorted by name, 50 rows a page.
	query := func(i int) service.Query {
		r := rand.New(rand.NewSource(int64(i)))
		switch i % 3 {
		case 0:
			return service.Query{Search: fmt.Sprint(100000 + r.Intn(n)), Limit: 50}
		case 1:
			return service.Query{Search: fmt.Sprintf("User %d", 100000+r.Intn(n/10)), Sort: "name", Limit: 50}
		}
		return service.Query{Group: groupNames[r.Intn(len(groupNames))], Cluster: ClusterName(r.Intn(10)), Sort: "name", Limit: 50}
	}
	svc.List(ctx, "extensions", service.Query{Limit: 1}) // build the index before measuring
	local, localLat, err := rate(ctx, 50, d, func(w, i int) error {
		_, err := svc.List(ctx, "extensions", query(w*100000+i))
		return err
	})
	if err != nil {
		return nil, err
	}
	conns0 := conns.Load()
	remote, remoteLat, err := rate(ctx, 50, d, func(w, i int) error {
		_, err := client.List(ctx, "extensions", query(w*100000+i))
		return err
	})
	if err != nil {
		return nil, err
	}
	return []Result{
		{Name: fmt.Sprintf("extension search over %d records through the API, 50 clients", n), Value: remote, Unit: "searches/s",
			Anchor: "the same searches in process", AnchorValue: local, Clients: 50,
			AnchorSettings: "service.Service.List called by 50 goroutines with the same queries, no HTTP or JSON",
			Note:           fmt.Sprintf("%d connections opened for %d searches", conns.Load()-conns0, len(remoteLat))},
		{Name: "API search p50", Value: ms(Percentile(remoteLat, 50)), Unit: "ms"},
		{Name: "API search p99", Value: ms(Percentile(remoteLat, 99)), Unit: "ms",
			Anchor: "in-process p99", AnchorValue: ms(Percentile(localLat, 99)), Goal: "< 50 ms", Clients: 50},
	}, nil
}
