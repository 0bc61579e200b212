package agent

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
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

// TestEveryMetricHasHelp: every metric the agent exports, counted or
// scraped, says what it measures. It builds the registry as the agent does
// (Registry(), the parts' collector, the HTTP API's request metrics) and
// reads every descriptor, so a metric that only shows when its part runs is
// checked too.
func TestEveryMetricHasHelp(t *testing.T) {
	m := NewMetrics(MetricSources{})
	parts := &partsCollector{}
	m.Registry().MustRegister(parts)
	httpapi.NewMetrics(m.Registry())
	ch := make(chan *prometheus.Desc, 100)
	(&collector{}).Describe(ch)
	parts.Describe(ch)
	close(ch)
	help := regexp.MustCompile(`fqName: "([^"]*)", help: "([^"]*)"`)
	n := 0
	for d := range ch {
		sm := help.FindStringSubmatch(d.String())
		if sm == nil {
			t.Fatalf("cannot read descriptor %s", d)
		}
		if strings.TrimSpace(sm[2]) == "" {
			t.Errorf("metric %s has no help text", sm[1])
		}
		n++
	}
	m.ObserveCommit(time.Millisecond)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.TrimSpace(f.GetHelp()) == "" {
			t.Errorf("metric %s has no help text", f.GetName())
		}
		n++
	}
	if n < 20 {
		t.Fatalf("read %d metrics: the test misses most of them", n)
	}
}
