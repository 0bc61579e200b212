package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The CLI's contract with scripts (DESIGN.md "Interfaces"): an unknown
// command or flag is a user error (exit 1) that names the nearest real
// ones; every command prints in the formats it declares below and refuses
// any other -o with exit 1 before it does anything.

// outputFormats lists, for every command that runs, the -o formats it
// prints, the default first. A command missing here fails
// TestEveryCommandHonoursOutput.
var outputFormats = map[string][]string{
	"agent":              {"table"},
	"ami apply":          {"table", "json"},
	"ami backout":        {"table", "json"},
	"ami backups":        {"table", "json", "csv"},
	"ami check":          {"table", "json", "csv"},
	"ami collect":        {"table"},
	"audit":              {"table", "json", "csv"},
	"audit ack":          {"table", "json"},
	"audit unack":        {"table", "json"},
	"backup":             {"table", "json"},
	"bench":              {"table", "json"},
	"chaos net":          {"table"},
	"chaos run":          {"table", "json"},
	"conflicts list":     {"table", "json", "csv"},
	"conflicts resolve":  {"table", "json"},
	"conflicts show":     {"table", "json"},
	"demo":               {"table"},
	"demo asterisk":      {"table"},
	"dns zone":           {"table", "json"},
	"dundi apply":        {"table", "json"},
	"dundi config":       {"table", "json"},
	"dundi keys create":  {"table", "json"},
	"dundi keys rotate":  {"table", "json"},
	"dundi lookup":       {"table", "json"},
	"export":             {"csv", "json", "table"},
	"ext add":            {"table", "json"},
	"ext batch":          {"table", "json"},
	"ext get":            {"table", "json", "csv"},
	"ext list":           {"table", "json", "csv"},
	"ext move":           {"table", "json"},
	"ext rm":             {"table", "json"},
	"ext set":            {"table", "json"},
	"gossip keygen":      {"table", "json"},
	"gossip keys":        {"table", "json"},
	"history":            {"table", "json", "csv"},
	"hours dialplan":     {"table", "json"},
	"hours now":          {"table", "json", "csv"},
	"import":             {"table", "json"},
	"members":            {"table", "json", "csv"},
	"raft remove":        {"table", "json"},
	"raft status":        {"table", "json", "csv"},
	"repl decommission":  {"table", "json"},
	"repl promote":       {"table", "json"},
	"repl status":        {"table", "json", "csv"},
	"repl topology":      {"table", "json"},
	"repl verify":        {"table", "json", "csv"},
	"restore":            {"table", "json"},
	"revert":             {"table", "json"},
	"roaming report":     {"table", "json", "csv"},
	"secrets new-key":    {"table", "json"},
	"secrets reseal":     {"table", "json"},
	"secrets rotate-key": {"table", "json"},
	"secrets seal":       {"table", "json"},
	"status":             {"table", "json"},
	"status extensions":  {"table", "json", "csv"},
	"store compact":      {"table", "json"},
	"tls ca create":      {"table", "json"},
	"tls cert create":    {"table", "json"},
	"token hash":         {"table", "json"},
	"token new":          {"table", "json"},
	"version":            {"table", "json"},
}

// commandPath is a command's path without the program name: "ext list".
func commandPath(c *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "pbxtopo"), " ")
}

// ours reports whether c is one of pbxtopo's commands, not one cobra adds
// (help, completion).
func ours(c *cobra.Command) bool {
	p := commandPath(c)
	return p != "help" && !strings.HasPrefix(p, "completion") && !strings.HasPrefix(p, "__complete")
}

// formatsOf returns the formats a command prints, the default first.
func formatsOf(c *cobra.Command) ([]string, bool) {
	f, ok := outputFormats[commandPath(c)]
	return f, ok
}

// checkFormat refuses an -o the command cannot print, before it runs.
func (a *app) checkFormat(c *cobra.Command) error {
	a.cmd = c
	want := strings.ToLower(a.v.GetString("output"))
	fs, ok := formatsOf(c)
	if !ok && (c.HasSubCommands() || !ours(c)) {
		return nil // a group (its RunE refuses unknown words) or cobra's help
	}
	if !ok {
		return fmt.Errorf("internal: command %q declares no output formats (cmd/pbxtopo/contract.go)", commandPath(c))
	}
	if want == "" {
		return nil
	}
	for _, f := range fs {
		if f == want {
			return nil
		}
	}
	if want != "table" && want != "json" && want != "csv" {
		return usageErrorf("unknown output format %q: use %s", want, orList(fs))
	}
	opts := make([]string, len(fs))
	for i, f := range fs {
		opts[i] = "-o " + f
	}
	return usageErrorf("'pbxtopo %s' cannot print %s: use %s", commandPath(c), want, orList(opts))
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// groupCommands makes every command that only groups others (ext, repl...)
// refuse an unknown subcommand with exit 1 and the nearest names, instead
// of printing its help and exiting 0. Given no subcommand it prints its
// help.
func groupCommands(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownCommand(cmd, args[0])
		}
	}
	for _, sub := range c.Commands() {
		groupCommands(sub)
	}
}

// unknownCommand is the error for a word that names no subcommand of c.
func unknownCommand(c *cobra.Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for 'pbxtopo %s'", word, commandPath(c))
	if commandPath(c) == "" {
		msg = fmt.Sprintf("unknown command %q", word)
	}
	var cands []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			cands = append(cands, s.Name())
		}
	}
	var names []string
	for _, n := range nearest(word, cands) {
		names = append(names, strings.Join(strings.Fields("pbxtopo "+commandPath(c)+" "+n), " "))
	}
	if len(names) > 0 {
		return usageErrorf("%s: did you mean %s?", msg, quoteOr(names))
	}
	var subs []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			subs = append(subs, s.Name())
		}
	}
	return usageErrorf("%s: its commands are %s (see '%s --help')", msg, strings.Join(subs, ", "),
		strings.TrimSpace("pbxtopo "+commandPath(c)))
}

// unknownWord is the error for a word of a command's argument that names
// none of its choices.
func unknownWord(cmd, word string, choices []string) error {
	if near := nearest(word, choices); len(near) > 0 {
		return usageErrorf("'pbxtopo %s' has no %q: did you mean %s?", cmd, word, quoteOr(near))
	}
	return usageErrorf("'pbxtopo %s' has no %q: use %s", cmd, word, orList(choices))
}

func quoteOr(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return orList(q)
}

var unknownFlag = regexp.MustCompile(`^unknown (?:shorthand )?flag: (?:'(\w)' in -\w+|--([\w.-]+))`)

// flagError turns a flag parsing error into a user error that names the
// command's help and, for an unknown flag, the nearest flags it has.
func flagError(c *cobra.Command, err error) error {
	help := fmt.Sprintf("(see '%s --help')", strings.TrimSpace("pbxtopo "+commandPath(c)))
	if m := unknownFlag.FindStringSubmatch(err.Error()); m != nil && m[2] != "" {
		if near := nearestFlags(c, m[2]); len(near) > 0 {
			return usageErrorf("%v: did you mean %s? %s", err, quoteOr(near), help)
		}
	}
	return usageErrorf("%v %s", err, help)
}

// nearestFlags returns the flags of c (its own and inherited) nearest to
// name.
func nearestFlags(c *cobra.Command, name string) []string {
	seen := map[string]bool{}
	var names []string
	visit := func(f *pflag.Flag) {
		if !f.Hidden && !seen[f.Name] {
			seen[f.Name] = true
			names = append(names, f.Name)
		}
	}
	c.LocalFlags().VisitAll(visit)
	c.InheritedFlags().VisitAll(visit)
	sort.Strings(names)
	var out []string
	for _, n := range nearest(name, names) {
		out = append(out, "--"+n)
	}
	return out
}

// nearest returns the candidates closest to word: those it starts, else
// those fewest edits away (at most two).
func nearest(word string, cands []string) []string {
	best, out := 3, []string(nil)
	for _, c := range cands {
		d := pbx.EditDistance(word, c)
		if strings.HasPrefix(c, word) {
			d = 0
		}
		switch {
		case d < best:
			best, out = d, []string{c}
		case d == best:
			out = append(out, c)
		}
	}
	return out
}
