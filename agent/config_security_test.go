package agent

import (
	"strings"
	"testing"
)

// TestPlainHTTPOffLoopbackIsRefused: an API on a network address over
// plain HTTP would carry tokens and secrets in clear.
func TestPlainHTTPOffLoopbackIsRefused(t *testing.T) {
	base := "cluster: tpa1\ndata_dir: /x\ntls:\n  ca: a\n  cert: b\n  key: c\n"
	for _, tc := range []struct{ yaml, want string }{
		{base + "http_addr: 192.0.2.10:7480\n", "http_addr 192.0.2.10:7480 is not a loopback address and the API would serve plain HTTP"},
		{base + "http_addr: 0.0.0.0:7480\n", "set http_tls.cert and http_tls.key"},
		{base + "http_addr: '[2001:db8::1]:7480'\n", "http.insecure: true"},
		{base + "http_addr: 192.0.2.10:7480\nhttp:\n  insecure: true\n", ""},
		{base + "http_addr: 192.0.2.10:7480\nhttp_tls:\n  cert: api.crt\n  key: api.key\n", ""},
		{base + "http_addr: 127.0.0.1:7480\n", ""},
		{base + "http_addr: '[::1]:7480'\n", ""},
	} {
		_, err := LoadConfig(newViper(t, tc.yaml))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.yaml, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
