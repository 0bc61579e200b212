package agent

import (
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
