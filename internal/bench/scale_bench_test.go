package bench

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkScaleQueries times each kind of listing and search of the
// scale suite (apiKinds) in process, at two sizes (50,000 and 200,000
// extensions; PBXTOPO_SCALE_BENCH_N=n for another), so that a cost that
// grows with the number of extensions shows. The HTTP variant adds the
// API's routing, JSON and a loopback connection.
func BenchmarkScaleQueries(b *testing.B) {
	benchScaleKinds(b, func(_ *testing.B, svc *service.Service) func(url.Values) error {
		return func(v url.Values) error {
			q, err := scaleQuery(v)
			if err == nil {
				_, err = svc.List(context.Background(), "extensions", q)
			}
			return err
		}
	})
}

// BenchmarkScaleQueriesHTTP is BenchmarkScaleQueries through the HTTP API.
func BenchmarkScaleQueriesHTTP(b *testing.B) {
	benchScaleKinds(b, func(b *testing.B, svc *service.Service) func(url.Values) error {
		srv := httptest.NewServer(httpapi.Handler(svc, nil))
		b.Cleanup(srv.Close)
		c := &apiCaller{base: srv.URL, hc: srv.Client()}
		return func(v url.Values) error {
			if code, err := c.get(context.Background(), v); err != nil || code != 200 {
				return fmt.Errorf("status %d, %v", code, err)
			}
			return nil
		}
	})
}

// benchScaleKinds runs each kind at each size through the caller that
// through makes for the size's service.
func benchScaleKinds(b *testing.B, through func(*testing.B, *service.Service) func(url.Values) error) {
	for _, n := range scaleBenchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			svc, _ := apiBenchService(b, n)
			call := through(b, svc)
			for _, k := range apiKinds {
				b.Run(k.name, func(b *testing.B) {
					r := rand.New(rand.NewSource(1))
					b.ResetTimer()
					defer reportCPU(b)()
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						if err := call(k.query(r, n)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

func scaleBenchSizes() []int {
	if s := os.Getenv("PBXTOPO_SCALE_BENCH_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err == nil {
			return []int{n}
		}
	}
	return []int{50_000, 200_000}
}

// scaleQuery turns a kind's URL query into the service's Query.
func scaleQuery(v url.Values) (service.Query, error) {
	q := service.Query{Search: v.Get("search"), Group: v.Get("group"), Cluster: v.Get("cluster"), Sort: v.Get("sort")}
	var err error
	if q.Limit, err = strconv.Atoi(v.Get("limit")); err != nil {
		return q, err
	}
	if o := v.Get("offset"); o != "" {
		q.Offset, err = strconv.Atoi(o)
	}
	return q, err
}

// BenchmarkScaleMixHTTP sends the 5,000 clients' mix of requests (the
// kinds' shares) through the agent's whole handler (a read token checked,
// metrics, the default shedding), from many goroutines at once: the CPU
// per request the load run's agent and clients pay, in one process.
func BenchmarkScaleMixHTTP(b *testing.B) {
	n := scaleBenchSizes()[len(scaleBenchSizes())-1]
	svc, _ := apiBenchService(b, n)
	tok := httpapi.NewToken()
	auth := httpapi.NewTokenAuth(map[string]httpapi.Token{tok: {Role: service.RoleRead, Name: "bench"}}, slog.New(slog.DiscardHandler))
	h := httpapi.HandlerWith(svc, httpapi.HandlerOptions{Auth: auth, Metrics: httpapi.NewMetrics(prometheus.NewRegistry()), Shed: httpapi.DefaultShedConfig()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var mix []int
	for i, k := range apiKinds {
		for range k.share {
			mix = append(mix, i)
		}
	}
	c := newAPICallerURL(srv.URL, tok, 64)
	ctx := context.Background()
	var seed atomic.Int64
	b.ResetTimer() // the per-op figures leave the import out
	defer reportCPU(b)()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewSource(seed.Add(1)))
		for pb.Next() {
			k := apiKinds[mix[r.Intn(len(mix))]]
			if code, err := c.get(ctx, k.query(r, n)); err != nil || code != 200 {
				b.Errorf("%s: status %d, %v", k.name, code, err)
				return
			}
		}
	})
}
