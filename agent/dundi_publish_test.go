package agent

import (
	"strings"
	"testing"
)

// dundi.dir must be the one path the main files include the generated
// files from; with ami.user, inside ami.config_dir.
func TestDUNDiDirErrors(t *testing.T) {
	base := "cluster: tpa1\ndata_dir: /x\n"
	for _, tc := range []struct{ yaml, want string }{
		{base + "dundi:\n  dir: pbxtopo\n", `dundi.dir "pbxtopo": Asterisk's main files include the generated files as pbxtopo/<file>, so give the pbxtopo directory of Asterisk's configuration directory, e.g. /etc/asterisk/pbxtopo`},
		{base + "dundi:\n  dir: /etc/asterisk/dundi\n", `dundi.dir "/etc/asterisk/dundi"`},
		{base + "ami:\n  user: pbxtopo\n  config_dir: /srv/asterisk\ndundi:\n  dir: /etc/asterisk/pbxtopo\n",
			`dundi.dir "/etc/asterisk/pbxtopo" is not in ami.config_dir "/srv/asterisk", the directory the agent applies Asterisk configuration to: set dundi.dir to /srv/asterisk/pbxtopo`},
		{base + "dundi:\n  dir: /etc/asterisk/pbxtopo\n  debounce: -1s\n", "dundi.debounce -1s must not be negative"},
	} {
		_, err := LoadConfig(newViper(t, tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	// A good one passes (the rest of the error is about tls.*).
	if _, err := LoadConfig(newViper(t, base+"dundi:\n  dir: /etc/asterisk/pbxtopo\n")); err == nil || strings.Contains(err.Error(), "dundi") {
		t.Fatalf("a good dundi.dir: %v", err)
	}
}
