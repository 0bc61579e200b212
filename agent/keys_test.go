package agent

import (
	"strings"
	"testing"

	"github.com/spf13/viper"

	"github.com/pbxtopo/pbxtopo/internal/docfiles"
)

// TestEveryConfigKeyDocumented holds the documentation (README.md and
// docs/) and the sample config to the promise that every key the agent
// reads is documented, and checks that the sample config loads.
func TestEveryConfigKeyDocumented(t *testing.T) {
	files, err := docfiles.Read("..")
	if err != nil {
		t.Fatal(err)
	}
	docs := docfiles.Text(files)
	v := viper.New()
	v.SetConfigFile("../deploy/pbxtopo.yaml")
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	inSample := map[string]bool{}
	for _, k := range v.AllKeys() {
		inSample[k] = true
	}
	Defaults(v)
	if _, err := LoadConfig(v); err != nil {
		t.Errorf("deploy/pbxtopo.yaml: %v", err)
	}
	for _, k := range ConfigKeys() {
		if !inSample[k] && !inReadme(docs, k) {
			t.Errorf("config key %s is neither in deploy/pbxtopo.yaml nor in README.md or docs/ (docs/configuration.md is the reference)", k)
		}
	}
}

// inReadme finds `a.b.c`, `a.b.c[]` or the brace form `a.b.{x,c,y}`.
func inReadme(readme, key string) bool {
	if strings.Contains(readme, "`"+key+"`") || strings.Contains(readme, "`"+key+"[]`") {
		return true
	}
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return false
	}
	start := strings.Index(readme, "`"+key[:i+1]+"{")
	if start < 0 {
		return false
	}
	list := readme[start+i+3:]
	list = list[:strings.IndexByte(list, '}')]
	for _, name := range strings.Split(list, ",") {
		if name == key[i+1:] {
			return true
		}
	}
	return false
}
