package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/spf13/cobra"
)

func (a *app) importCmd() *cobra.Command {
	var tableName string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import [--table T] FILE",
		Short: "Import a CSV or JSON file of one table, all or nothing",
		Long: `Imports every record of a .csv (header row of column names) or .json (array of
objects) file in one transaction. If any line is bad, every bad line is reported with its
line number and nothing is changed. The table is --table, or the file's name
(clusters.csv imports clusters). Tables: ` + strings.Join(pbx.TableNames(), ", ") + ".",
		Example: `  pbxtopo import --data-dir ./tpa1 --replica tpa1 testdata/enterprise/sites.csv
  pbxtopo import --table extensions users.json --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			t, err := importTable(tableName, path)
			if err != nil {
				return err
			}
			fh, err := os.Open(path)
			if err != nil {
				return userError{err}
			}
			defer fh.Close()
			api, done, err := a.backend(!dryRun)
			if err != nil {
				return err
			}
			defer done()
			bar := newProgress(a.stderr, filepath.Base(path), fileSize(path))
			reply, err := api.Import(cmd.Context(), service.ImportRequest{Table: t.Name, Source: path, DryRun: dryRun, Progress: bar.update}, fh)
			bar.finish()
			if err != nil {
				return err
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, reply)
			}
			switch {
			case dryRun:
				fmt.Fprintf(a.stdout, "%s: %d records for %s are valid; dry run, nothing changed\n", path, reply.Records, t.Name)
			default:
				fmt.Fprintf(a.stdout, "%s: imported %d records into %s (%d changed, %d unchanged)\n", path, reply.Records, t.Name, reply.Changed, reply.Unchanged)
			}
			if reply.StatusIgnored > 0 {
				fmt.Fprintf(a.stdout, "%d rows had status columns (registration, agent state...); status is collected from Asterisk, so they were ignored\n", reply.StatusIgnored)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tableName, "table", "", "table to import into (default: from the file name, else extensions)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate only; change nothing")
	return cmd
}

// importTable picks the table: --table, else the file's base name if it
// names a table, else extensions.
func importTable(flag, path string) (*pbx.Table, error) {
	if flag != "" {
		t, err := pbx.LookupTable(flag)
		if err != nil {
			return nil, userError{err}
		}
		return t, nil
	}
	base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".csv"), ".json")
	if t, err := pbx.LookupTable(base); err == nil {
		return t, nil
	}
	return pbx.Extensions, nil
}

func (a *app) exportCmd() *cobra.Command {
	var tableName string
	cmd := &cobra.Command{
		Use:   "export [--table T] [-o csv|json]",
		Short: "Export a table as CSV (default) or JSON, secrets included",
		Example: `  pbxtopo export --table extensions > extensions.csv
  pbxtopo export --table clusters -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := pbx.LookupTable(tableName)
			if err != nil {
				return userError{err}
			}
			api, done, err := a.backend(false)
			if err != nil {
				return err
			}
			defer done()
			rows, err := api.Export(cmd.Context(), t.Name)
			if err != nil {
				return err
			}
			if strings.ToLower(a.v.GetString("output")) == "json" {
				return pbx.WriteJSON(a.stdout, rows)
			}
			return pbx.WriteCSV(a.stdout, t.ConfigColumns(), rows)
		},
	}
	cmd.Flags().StringVar(&tableName, "table", "extensions", "table to export: "+strings.Join(pbx.TableNames(), ", "))
	return cmd
}

// splitRecordRef splits "TABLE/KEY" (the key may hold slashes).
func splitRecordRef(ref string) (*pbx.Table, string, error) {
	name, key, ok := strings.Cut(ref, "/")
	if !ok || key == "" {
		return nil, "", usageErrorf("%q: want TABLE/KEY, e.g. extensions/tpa1/6109", ref)
	}
	t, err := pbx.LookupTable(name)
	if err != nil {
		return nil, "", userError{err}
	}
	if _, err := t.ParseKey(key); err != nil {
		return nil, "", userError{err}
	}
	return t, key, nil
}

func (a *app) historyCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "history TABLE/KEY",
		Short:   "Show every retained change of a record: when, where, who, what changed",
		Example: "  pbxtopo history extensions/tpa1/6109",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, key, err := splitRecordRef(args[0])
			if err != nil {
				return err
			}
			api, done, err := a.backend(false)
			if err != nil {
				return err
			}
			defer done()
			items, err := api.History(cmd.Context(), t.Name, key)
			if err != nil {
				return err
			}
			if !a.v.GetBool("show-secrets") {
				for i := range items {
					items[i].Fields = t.Redact(items[i].Fields)
				}
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, items)
			}
			printHistory(a.stdout, t, items)
			return nil
		},
	}
}

func printHistory(w io.Writer, t *pbx.Table, items []service.HistoryItem) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tTIME\tCLUSTER\tAUTHOR\tWHAT")
	var prev pbx.Fields
	for _, it := range items {
		what := "created"
		switch {
		case it.Deleted:
			what = "deleted"
		case it.Set != nil:
			what = setFields(t, prev, it.Fields, it.Set)
		case prev != nil:
			what = diffFields(t, prev, it.Fields)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Change, it.Time.Format(time.DateTime), it.Cluster, it.Author, what)
		prev = it.Fields
	}
	tw.Flush()
}

// setFields names the fields a change set, with their new values (and
// the values the previous entry showed; with concurrent changes that may
// be another side's).
func setFields(t *pbx.Table, prev, now pbx.Fields, set []string) string {
	var parts []string
	for _, c := range set {
		if s, _ := t.Spec(c); s.Secret {
			parts = append(parts, c+" set")
			continue
		}
		if prev != nil && prev[c] != now[c] {
			parts = append(parts, fmt.Sprintf("%s %q→%q", c, prev[c], now[c]))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%q", c, now[c]))
		}
	}
	return "set " + strings.Join(parts, ", ")
}

// diffFields names the fields that changed between two versions.
func diffFields(t *pbx.Table, a, b pbx.Fields) string {
	var parts []string
	for _, c := range t.Columns() {
		if a[c] == b[c] {
			continue
		}
		if s, _ := t.Spec(c); s.Secret {
			parts = append(parts, c+" changed")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %q→%q", c, a[c], b[c]))
	}
	if len(parts) == 0 {
		return "no field changed"
	}
	return strings.Join(parts, ", ")
}

func (a *app) revertCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revert CHANGE-ID",
		Short: "Back out one change: the fields it set take back their values from before it",
		Long: `The fields the change set take back the values they had before it; fields changed since
(perhaps by someone else) stay as they are. A change that set the whole record (a creation,
a change from an older agent) brings back the whole version before it, or removes the record
it created. Find change ids with 'pbxtopo history'. The revert is a new change: it
replicates, shows in history, and can itself be reverted.`,
		Example: "  pbxtopo revert tpa1.3f2a9c1b4d5e6f70:42",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, done, err := a.backend(true)
			if err != nil {
				return err
			}
			defer done()
			reply, err := api.Revert(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, reply)
			}
			fmt.Fprintln(a.stdout, reply.Note)
			return nil
		},
	}
}

// progress shows an import's advance: a bar on a terminal, a few plain
// lines otherwise (so logs of scripted imports stay readable).
type progress struct {
	w        io.Writer
	name     string
	total    int64
	terminal bool
	phase    string
	lastPct  int
	drawn    bool
}

func newProgress(w io.Writer, name string, total int64) *progress {
	return &progress{w: w, name: name, total: total, terminal: !notTerminal(w), lastPct: -1}
}

func (p *progress) update(pr service.Progress) {
	pct := 100
	if p.total > 0 && pr.Phase == "read" {
		pct = int(pr.Bytes * 100 / p.total)
	}
	if p.terminal {
		const width = 30
		fill := pct * width / 100
		fmt.Fprintf(p.w, "\r%-20s [%s%s] %3d%% %s %d rows ", p.name, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), pct, pr.Phase, pr.Rows)
		p.drawn = true
		return
	}
	// Plain lines, for large files only: on each new phase and every 25%
	// of reading.
	if p.total < 1<<20 {
		return
	}
	if pr.Phase != p.phase || pct/25 != p.lastPct/25 {
		if pr.Phase != "done" {
			fmt.Fprintf(p.w, "%s: %s, %d rows, %d%%\n", p.name, pr.Phase, pr.Rows, pct)
		}
		p.phase, p.lastPct = pr.Phase, pct
	}
}

func (p *progress) finish() {
	if p.terminal && p.drawn {
		fmt.Fprintln(p.w)
	}
}
