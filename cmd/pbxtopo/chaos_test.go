package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// `chaos run --live` runs live campaigns, several at once, and reports
// each with its kind; mistakes in the flags say what to use.
func TestChaosRunLive(t *testing.T) {
	out := mustRun(t, "chaos", "run", "--live", "--runs", "2", "--parallel", "2", "--clusters", "2", "--nodes", "1",
		"--ops", "create,patch-if-match", "--faults", "none", "--duration", "1s", "--dir", t.TempDir(), "-o", "json")
	var reps []struct {
		Kind, Mode    string
		Seed          int64
		Deterministic bool
		Acked         int
	}
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(reps) != 2 || reps[0].Seed != 1 || reps[1].Seed != 2 || reps[0].Kind != "live" || reps[0].Deterministic || reps[0].Acked == 0 {
		t.Fatalf("reports: %+v", reps)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"chaos", "run", "--ops", "patch"}, "--ops and --nodes are for --live runs"},
		{[]string{"chaos", "run", "--live", "--faults", "crash", "--duration", "1s"}, `unknown live fault "crash": use partition, isolate`},
		{[]string{"chaos", "run", "--live", "--ops", "patsh", "--duration", "1s"}, `unknown operation "patsh": use patch,`},
	} {
		_, errs, code := pbxtopo(t, bad.args...)
		if code != 1 || !strings.Contains(errs, bad.want) {
			t.Errorf("pbxtopo %s: exit %d, %q; want exit 1 and %q", strings.Join(bad.args, " "), code, errs, bad.want)
		}
	}
}

// --runs and --wall are both limits: past the wall, no further run starts
// however many runs were asked for.
func TestChaosRunWallEndsRuns(t *testing.T) {
	out := mustRun(t, "chaos", "run", "--runs", "5", "--wall", "1ns", "--clusters", "2", "--duration", "5s", "--dir", t.TempDir(), "-o", "json")
	var reps []struct{ Seed int64 }
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(reps) != 1 {
		t.Fatalf("%d runs past a wall of 1ns, want the first only: %+v", len(reps), reps)
	}
}
