package httpapi

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

// FuzzReadJSON: any request body gives a value or a 400, never a panic,
// and what is accepted was one JSON object.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `null`, `[]`, `{"a":"b"} x`, `{"a":5}`, ``, `{}{}`, `"s"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var fields pbx.Fields
		err := readJSON(httptest.NewRequest("PUT", "/v1/extensions/a/b", strings.NewReader(body)), &fields)
		if err == nil && fields == nil {
			t.Fatalf("body %q accepted without an object", body)
		}
		var req service.BatchRequest
		if err := readJSON(httptest.NewRequest("POST", "/v1/batch", strings.NewReader(body)), &req); err == nil && !strings.HasPrefix(strings.TrimSpace(body), "{") {
			t.Fatalf("body %q accepted as an object", body)
		}
	})
}

// FuzzParseTokens: any tokens file gives tokens or an error naming the
// line, never a panic; a hashed line keeps its hash.
func FuzzParseTokens(f *testing.F) {
	f.Add("admin alice " + HashToken("0123456789abcdef0123").String() + "\n# comment\nread noc clear-token-0123456789\n")
	f.Add("operator bob sha256:zz\n")
	f.Add("root x y z\n")
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "tokens")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		tf, err := ParseTokens(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), "tokens") {
				t.Fatalf("error %q names neither the file nor the line", err)
			}
			return
		}
		for h, tok := range tf.Tokens {
			if back, clear, err := parseTokenField(h.String()); err != nil || clear || back != h {
				t.Fatalf("hash of %s does not read back: %v", tok.Name, err)
			}
		}
	})
}
