package bench

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
)

// TestDNSQuick runs the dns suite in quick mode: every figure is measured
// and positive (a smoke test; the figures themselves mean nothing here).
func TestDNSQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	rs, err := DNS(context.Background(), Env{Dir: t.TempDir(), Quick: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"health change to first answer", "dead VIP to first answer"}
	if _, err := exec.LookPath("dnsperf"); err == nil {
		want = append(want, "SRV over UDP, pbxtopo", "SRV p99 latency")
	} else {
		t.Log("dnsperf is not installed (apt-get install dnsperf): rates not measured")
	}
	for _, w := range want {
		found := false
		for _, r := range rs {
			if strings.HasPrefix(r.Name, w) {
				found = true
				if r.Value <= 0 {
					t.Errorf("%s = %v", r.Name, r.Value)
				}
			}
		}
		if !found {
			t.Errorf("no figure %q in %+v", w, rs)
		}
	}
}
