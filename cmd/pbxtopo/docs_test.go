package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// readmeCommand finds "pbxtopo ..." in a line of a shell block: the words
// after it up to a comment, a pipe, a redirection or the line's end.
var readmeCommand = regexp.MustCompile(`(?:^|[\s(|;&])pbxtopo ((?:[^#|;&>)]|&&)*)`)

// TestReadmeCommandsExist: every pbxtopo command line in the README's
// shell blocks names a real command, and every flag it shows is one of
// that command's flags, so the examples cannot drift from the CLI. (The
// tour is run for real by TestReadmeTourRuns.)
func TestReadmeCommandsExist(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root := (&app{v: viper.New()}).rootCmd()
	checked, inShell := 0, false
	for n, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "```sh" || line == "```console":
			inShell = true
			continue
		case strings.HasPrefix(line, "```"):
			inShell = false
		}
		if !inShell {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "fix:") { // audit output quoting a command
			continue
		}
		for _, m := range readmeCommand.FindAllStringSubmatch(line, -1) {
			words := strings.Fields(strings.ReplaceAll(strings.ReplaceAll(m[1], "[", " "), "]", " "))
			cmd, rest, err := root.Find(words)
			if err != nil || cmd == root {
				t.Errorf("README line %d: %q names no command (%v)", n+1, "pbxtopo "+m[1], err)
				continue
			}
			checked++
			for _, w := range rest {
				if !strings.HasPrefix(w, "-") || w == "-" || w == "--" {
					continue
				}
				name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
				name = strings.TrimRight(name, ".,")
				if name == strings.ToUpper(name) && len(name) > 1 { // a placeholder: --FIELD value
					continue
				}
				var f *pflag.Flag
				if strings.HasPrefix(w, "--") {
					f = cmd.Flags().Lookup(name)
					if f == nil {
						f = cmd.InheritedFlags().Lookup(name)
					}
				} else if len(name) == 1 {
					f = cmd.Flags().ShorthandLookup(name)
					if f == nil {
						f = cmd.InheritedFlags().ShorthandLookup(name)
					}
				}
				if f == nil {
					t.Errorf("README line %d: %q: %s has no flag %s", n+1, strings.TrimSpace(line), cmd.CommandPath(), w)
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked %d command lines: the README's shell blocks were not found", checked)
	}
}
