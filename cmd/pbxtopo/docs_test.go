package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// TestEveryCommandIsDocumented: every leaf command of the CLI appears in
// the README as "pbxtopo PATH" (in a usage block or the text), so a new
// command cannot ship without its documentation.
func TestEveryCommandIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	leaves := 0
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			p := strings.TrimSpace(path + " " + sub.Name())
			if sub.HasSubCommands() {
				walk(sub, p)
				continue
			}
			leaves++
			if !strings.Contains(readme, "pbxtopo "+p) && !strings.Contains(readme, "`"+p) {
				t.Errorf("command %q is not in the README: document it as `pbxtopo %s ...`", p, p)
			}
		}
	}
	walk((&app{v: viper.New()}).rootCmd(), "")
	if leaves < 40 {
		t.Fatalf("found %d commands: the walk misses the command tree", leaves)
	}
}
