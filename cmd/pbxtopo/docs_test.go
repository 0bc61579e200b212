package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/pbxtopo/pbxtopo/internal/docfiles"
)

// readDocs reads README.md and docs/*.md.
func readDocs(t *testing.T) []docfiles.File {
	t.Helper()
	files, err := docfiles.Read("../..")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestEveryCommandIsDocumented: every leaf command of the CLI appears in
// README.md or a file of docs/ as "pbxtopo PATH" (in a usage block or the
// text), so a new command cannot ship without its documentation.
func TestEveryCommandIsDocumented(t *testing.T) {
	readme := docfiles.Text(readDocs(t))
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
				t.Errorf("command %q is in neither README.md nor docs/: document it as `pbxtopo %s ...` (docs/operator-guide.md)", p, p)
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

// TestReadmeCommandsExist: every pbxtopo command line in the shell blocks
// of README.md and of every file of docs/ names a real command, and every
// flag it shows is one of that command's flags, so the examples cannot
// drift from the CLI. (TestDocExamplesRun runs the console blocks.)
func TestReadmeCommandsExist(t *testing.T) {
	root := (&app{v: viper.New()}).rootCmd()
	checked := 0
	for _, f := range readDocs(t) {
		checked += checkShellCommands(t, root, f)
	}
	if checked < 50 {
		t.Fatalf("checked %d command lines: the shell blocks of README.md and docs/ were not found", checked)
	}
}

// shellLines returns the command lines of a file's ```sh blocks (every
// line) and ```console blocks (the commands, not their output), each
// with its line number.
func shellLines(doc docfiles.File) (lines []string, at []int) {
	for _, b := range docfiles.Blocks(doc.Text) {
		switch b.Lang {
		case "sh":
			for i, l := range b.Lines {
				lines, at = append(lines, l), append(at, b.Line+1+i)
			}
		case "console":
			steps, _ := b.Steps()
			for _, s := range steps {
				for _, l := range strings.Split(s.Command, "\n") {
					lines, at = append(lines, l), append(at, s.Line)
				}
			}
		}
	}
	return lines, at
}

// checkShellCommands checks the pbxtopo command lines of one file's
// ```sh and ```console blocks and returns how many it checked.
func checkShellCommands(t *testing.T, root *cobra.Command, doc docfiles.File) int {
	t.Helper()
	checked := 0
	lines, at := shellLines(doc)
	for i, line := range lines {
		n := at[i] - 1
		for _, m := range readmeCommand.FindAllStringSubmatch(line, -1) {
			words := strings.Fields(strings.ReplaceAll(strings.ReplaceAll(m[1], "[", " "), "]", " "))
			cmd, rest, err := root.Find(words)
			if err != nil || cmd == root {
				t.Errorf("%s:%d: %q names no command (%v)", doc.Path, n+1, "pbxtopo "+m[1], err)
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
					t.Errorf("%s:%d: %q: %s has no flag %s", doc.Path, n+1, strings.TrimSpace(line), cmd.CommandPath(), w)
				}
			}
		}
	}
	return checked
}
