package agent

import (
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"cluster: tpa1\ndata_dir: /x\nreplicaton:\n  mode: ring\n", `"replicaton.mode" (did you mean "replication.mode"?)`},
		{"cluster: TPA 1\ndata_dir: /x\n", `cluster "TPA 1"`},
		{"cluster: tpa1\n", "data_dir is empty"},
		{"cluster: tpa1\ndata_dir: /x\nreplication:\n  mode: star\n", `replication mode "star"`},
		{"cluster: tpa1\ndata_dir: /x\nlog:\n  level: loud\n", `log.level "loud"`},
		{"cluster: tpa1\ndata_dir: /x\n", "tls.ca, tls.cert and tls.key are required"},
		{"cluster: tpa1\ndata_dir: /x\nmemory_limit_mb: 10\n", "memory_limit_mb 10: give at least 64 (MB), or 0 for no limit"},
		{"cluster: tpa1\ndata_dir: /x\nmemory_limit_mb: -1\n", "memory_limit_mb -1"},
	} {
		v := newViper(t, tc.yaml)
		_, err := LoadConfig(v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func newViper(t *testing.T, yaml string) *viper.Viper {
	t.Helper()
	v := viper.New()
	Defaults(v)
	v.SetConfigType("yaml")
	if err := v.ReadConfig(strings.NewReader(yaml)); err != nil {
		t.Fatal(err)
	}
	return v
}

// memory_limit_mb sets the Go runtime's soft limit of the process (the
// agent command applies it at start); 0 leaves the runtime's default.
func TestMemoryLimit(t *testing.T) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		t.Skip("GOMEMLIMIT is set in the environment, and wins over memory_limit_mb: unset it to run this test")
	}
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	v := newViper(t, "")
	if got := v.GetInt("memory_limit_mb"); got != DefaultMemoryLimitMB {
		t.Fatalf("memory_limit_mb defaults to %d, want %d", got, DefaultMemoryLimitMB)
	}
	if SetMemoryLimit(DefaultMemoryLimitMB) != DefaultMemoryLimitMB<<20 || debug.SetMemoryLimit(-1) != DefaultMemoryLimitMB<<20 {
		t.Fatalf("the runtime's limit is %d, want %d MB", debug.SetMemoryLimit(-1), DefaultMemoryLimitMB)
	}
	debug.SetMemoryLimit(before)
	if SetMemoryLimit(0) != -1 || debug.SetMemoryLimit(-1) != before {
		t.Fatalf("memory_limit_mb 0 changed the runtime's limit to %d", debug.SetMemoryLimit(-1))
	}
}
