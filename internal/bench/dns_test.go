package bench

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pbxtopoBinary builds the binary for suites that run agents.
func pbxtopoBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pbxtopo")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/pbxtopo").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDNSQuick runs the dns suite in quick mode: every figure is measured
// and, where it is a rate or a time, positive (a smoke test; the figures
// themselves mean nothing here). dnsperf and NSD are needed: a
// measurement that cannot be made fails the suite.
func TestDNSQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, bin := range []string{"dnsperf", "nsd"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := exec.LookPath("/usr/sbin/" + bin); err != nil {
				t.Skipf("%s is not installed: apt-get install %s (.ci/run does)", bin, bin)
			}
		}
	}
	rs, err := DNS(context.Background(), Env{Dir: t.TempDir(), Self: pbxtopoBinary(t), Quick: true, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"SRV over UDP, pbxtopo", "SRV over UDP, NSD", "CPU per SRV answer", "SRV p99 latency",
		"health change to first answer", "dead VIP to first answer", "SRV answers leaving out a live cluster",
		"agent process SIGKILLed"} {
		found := false
		for _, r := range rs {
			if strings.HasPrefix(r.Name, w) {
				found = true
				if r.Value <= 0 && r.Unit != "answers" {
					t.Errorf("%s = %v", r.Name, r.Value)
				}
				if r.Unit == "answers" && r.Value != 0 {
					t.Errorf("%s = %v: %s", r.Name, r.Value, r.Note)
				}
			}
		}
		if !found {
			t.Errorf("no figure %q in %+v", w, rs)
		}
	}
}

// TestRestartNeedsTheBinary: the restart measurement cannot be made
// without the pbxtopo binary, and says so.
func TestRestartNeedsTheBinary(t *testing.T) {
	if _, err := restartInTurn(context.Background(), Env{Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}); err == nil ||
		!strings.Contains(err.Error(), "needs the pbxtopo binary") {
		t.Fatalf("err = %v", err)
	}
}
