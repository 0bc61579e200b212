package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestServerTimes reads the listing route's histogram from /metrics text
// twice and takes percentiles of the requests between the readings.
func TestServerTimes(t *testing.T) {
	counts := []float64{0, 0, 0, 0}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprintf(w, "# HELP x\npbxtopo_http_request_seconds_bucket{route=\"GET /v1/health\",le=\"0.001\"} 99\n")
		for i, le := range []string{"0.001", "0.064", "0.256", "+Inf"} {
			fmt.Fprintf(w, "pbxtopo_http_request_seconds_bucket{route=\"GET /v1/extensions\",le=%q} %g\n", le, counts[i])
		}
	}))
	defer srv.Close()
	c := &apiCaller{base: srv.URL, token: "tok", hc: srv.Client()}
	before, err := c.serverTimes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts = []float64{90, 98, 99, 100} // cumulative: 90 under 1 ms, 1 over 256 ms
	after, err := c.serverTimes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    float64
		want string
	}{{50, "≤ 1ms"}, {95, "≤ 64ms"}, {99, "≤ 256ms"}, {99.5, "over 256ms"}} {
		if got, n := after.since(before, c.p); got != c.want || n != 100 {
			t.Errorf("p%v = %s of %d, want %s of 100", c.p, got, n, c.want)
		}
	}
	if got, n := after.since(after, 50); got != "none" || n != 0 {
		t.Errorf("no request between two equal readings: %s of %d", got, n)
	}
	c.token = "wrong"
	if _, err := c.serverTimes(context.Background()); err == nil {
		t.Error("a refused /metrics read gave times")
	}
}
