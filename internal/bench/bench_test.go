package bench

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// withSuite registers a suite for one test.
func withSuite(t *testing.T, name string, s Suite) {
	t.Helper()
	Suites[name] = s
	t.Cleanup(func() { delete(Suites, name) })
}

// A measurement that failed fails the run, its row carries no figure and
// says why, and the suites after it still run.
func TestFailedMeasurementFailsTheRun(t *testing.T) {
	withSuite(t, "t-failing", func(ctx context.Context, env Env) ([]Result, error) {
		r := failed("failover", errors.New("no survivor accepted a write"))
		r.Value = 0.001 // a figure left in by mistake is dropped
		return []Result{{Name: "fine", Value: 3, Unit: "x"}, r}, nil
	})
	withSuite(t, "t-erring", func(ctx context.Context, env Env) ([]Result, error) {
		return []Result{{Name: "before", Value: 1, Unit: "x"}}, errors.New("mariadbd is not installed")
	})
	withSuite(t, "t-ok", func(ctx context.Context, env Env) ([]Result, error) {
		env.Param("writers", 32)
		return []Result{{Name: "after", Value: 2, Unit: "x", Clients: runtime.NumCPU() + 1}}, nil
	})
	rep, err := RunReport(context.Background(), []string{"t-failing", "t-erring", "t-ok"}, Env{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "t-failing") || !strings.Contains(err.Error(), "t-erring") {
		t.Fatalf("err = %v, want both failing suites named", err)
	}
	byName := map[string]Result{}
	for _, r := range rep.Results {
		byName[r.Name] = r
	}
	if r := byName["failover"]; r.Error == "" || r.Value != 0 {
		t.Errorf("failed row %+v: want its error and no figure", r)
	}
	if r := byName["suite stopped"]; !strings.Contains(r.Error, "mariadbd is not installed") || r.Suite != "t-erring" {
		t.Errorf("a suite that returned an error has no row saying why: %+v", rep.Results)
	}
	if r, ok := byName["after"]; !ok || !strings.Contains(r.Note, "CPUs") {
		t.Errorf("the suite after the failures: %+v, want it run and its oversubscription noted", r)
	}
	if len(rep.Suites) != 3 || rep.Suites[2].Params["writers"] != 32 || rep.Suites[0].Error == "" {
		t.Errorf("suites %+v", rep.Suites)
	}
	var sb strings.Builder
	PrintTable(&sb, rep.Results)
	if !strings.Contains(sb.String(), "FAILED") || !strings.Contains(sb.String(), "no survivor accepted a write") {
		t.Errorf("table does not show the failure:\n%s", sb.String())
	}
}

// The JSON report carries the machine and each suite's parameters.
func TestReportJSONCarriesTheMachine(t *testing.T) {
	withSuite(t, "t-ok", func(ctx context.Context, env Env) ([]Result, error) {
		env.Param("duration", "1s")
		return []Result{{Name: "x", Value: 1, Unit: "x", Anchor: "a", AnchorValue: 2, AnchorSettings: "exactly so"}}, nil
	})
	rep, err := RunReport(context.Background(), []string{"t-ok"}, Env{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	var got struct {
		Machine map[string]any   `json:"machine"`
		Suites  []map[string]any `json:"suites"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cpus", "kernel", "go", "gomaxprocs", "load_at_start"} {
		if got.Machine[k] == nil || got.Machine[k] == "" {
			t.Errorf("machine.%s missing: %s", k, b)
		}
	}
	if got.Suites[0]["params"].(map[string]any)["duration"] != "1s" || got.Suites[0]["load_before"] == nil || got.Suites[0]["cpu_stolen_share"] == nil {
		t.Errorf("suite: %s", b)
	}
	if got.Results[0]["anchor_settings"] != "exactly so" || got.Results[0]["ratio"] != 0.5 {
		t.Errorf("result: %s", b)
	}
}

// The CPU shares come from /proc/stat's counters: idle and iowait are
// idle, steal is the hypervisor's, the rest (guest times excluded, they
// are in user already) busy.
func TestCPUShares(t *testing.T) {
	before := parseCPUTimes("cpu  100 0 50 800 50 0 0 0 7 7")
	after := parseCPUTimes("cpu  400 0 150 1050 150 0 0 250 9 9")
	busy, stolen := before.Shares(after)
	if busy != 0.4 || stolen != 0.25 { // of 1,000 ticks: 400 busy, 350 idle, 250 stolen
		t.Fatalf("busy %v stolen %v, want 0.4 and 0.25", busy, stolen)
	}
	if b, s := after.Shares(before); b != 0 || s != 0 {
		t.Fatalf("counters that went back: %v %v, want 0 0", b, s)
	}
	if now := ReadCPUTimes(); now.Total == 0 {
		t.Fatalf("no CPU times read from /proc/stat: %+v", now)
	}
}

func TestUnknownSuite(t *testing.T) {
	if _, err := RunReport(context.Background(), []string{"nope"}, Env{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "use ") {
		t.Fatalf("err = %v", err)
	}
}
