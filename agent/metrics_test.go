package agent

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestDiskFullGauge(t *testing.T) {
	st := testutil.Store(t, "tpa1")
	srv := httptest.NewServer(promhttp.HandlerFor(NewMetrics(MetricSources{Store: st}).Registry(), promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "pbxtopo_store_disk_full 0") {
		t.Fatalf("no disk-full gauge in:\n%s", b)
	}
}
