package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/spf13/cobra"
)

func (a *app) roamingCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "roaming", Short: "The roaming report: numbers on several clusters and their DUNDi mapping"}
	var f roaming.Filter
	report := &cobra.Command{
		Use:   "report",
		Short: "Show every number on more than one cluster or marked roaming, one row per cluster, with its findings",
		Long: `The guide's roaming table (§3.0.6): for every extension number present on more than one
cluster or marked roaming, one row per cluster with its group, roaming flag, voicemail box
(home: the box lives here and only here; duplicate: here and elsewhere; elsewhere: on the
home cluster shown; local: a per-site number's own box; none) and user name, then the
findings: duplicate voicemail, name mismatch, collision, no voicemail, standard number,
per-site local number. Columns to sort by: ` + strings.Join(roaming.ReportColumns, ", ") + `.`,
		Example: `  pbxtopo roaming report
  pbxtopo roaming report --cluster sfo --sort name -o csv`,
		Args: userArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			api, done, err := backendAs[service.RoamingAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			r, err := api.Roaming(cmd.Context(), f)
			if err != nil {
				return err
			}
			switch format {
			case "json":
				return printJSON(a.stdout, r)
			case "csv":
				return writeReportCSV(a.stdout, r)
			}
			printReport(a.stdout, r)
			return nil
		},
	}
	fl := report.Flags()
	fl.StringVar(&f.Group, "group", "", "only rows of this group")
	fl.StringVar(&f.Cluster, "cluster", "", "only rows of this cluster")
	fl.StringVar(&f.Site, "site", "", "only rows of this site")
	fl.StringVar(&f.Sort, "sort", "", "sort by this column (default extension)")
	fl.BoolVar(&f.Desc, "desc", false, "sort descending")
	cmd.AddCommand(report)
	return cmd
}

var ruleTitles = func() map[string]string {
	m := map[string]string{}
	for _, r := range roaming.Rules {
		m[r.ID] = r.Title
	}
	return m
}()

func printReport(w io.Writer, r *roaming.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tCLUSTER\tEXTENSION\tROAMING\tVOICEMAIL\tNAME\tFINDINGS")
	for _, row := range r.Rows {
		roam := "-"
		if row.Roaming {
			roam = "dundi"
		}
		vm := dash(row.Mailbox) + " (" + row.Voicemail + ")"
		if row.Voicemail == roaming.VMElsewhere && row.HomeCluster != "" {
			vm = "- (home " + row.HomeCluster + ")"
		}
		titles := make([]string, len(row.Findings))
		for i, id := range row.Findings {
			titles[i] = ruleTitles[id]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(row.Group), row.Cluster, row.Extension, roam, vm, dash(row.Name), dash(strings.Join(titles, ", ")))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d numbers, %d rows, %d findings (store version %s)\n", r.Numbers, len(r.Rows), len(r.Findings), r.Version)
	printFindings(w, r.Findings)
}

func writeReportCSV(w io.Writer, r *roaming.Report) error {
	cw := csv.NewWriter(w)
	cw.Write(roaming.ReportColumns)
	for _, row := range r.Rows {
		cw.Write(csvCells(row.Extension, row.Cluster, row.Site, row.Group, row.Name, yesNo(row.Roaming), row.Mailbox,
			row.Voicemail, row.HomeCluster, strings.Join(row.Findings, ";")))
	}
	cw.Flush()
	return cw.Error()
}

// printFindings prints findings as blocks: severity and id, then what,
// why and how to fix, and who acknowledged it.
func printFindings(w io.Writer, fs []roaming.Finding) {
	for _, f := range fs {
		fmt.Fprintf(w, "\n%-8s  %s\n", f.Severity, f.ID)
		fmt.Fprintf(w, "  %s\n", f.Summary)
		fmt.Fprintf(w, "  why: %s\n", f.Why)
		fmt.Fprintf(w, "  fix: %s\n", f.Fix)
		if f.Ack != nil {
			fmt.Fprintf(w, "  acknowledged by %s", f.Ack.By)
			if f.Ack.At != "" {
				fmt.Fprintf(w, " at %s", f.Ack.At)
			}
			fmt.Fprintf(w, ": %s (not alerting)\n", f.Ack.Why)
		}
	}
}

func (a *app) auditCmd() *cobra.Command {
	var q service.AuditQuery
	var failOn string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Find roaming and security mistakes: weak secrets, open ACLs, orphan trunks, shared pickup groups...",
		Long: `Runs every rule over the enterprise and prints the findings, worst first. Each has a
stable id (RULE:SUBJECT, e.g. SEC-WEAK-PIN:lon:5021), a severity, what is wrong, why it
matters and how to fix it. Secrets are never printed, only the rule they break.

Exit code 0 whatever is found, unless --fail-on SEVERITY is given and a finding at that
severity or above is not acknowledged: then 1 (for cron and CI). 'pbxtopo audit ack'
acknowledges a finding: it stays in the audit but stops alerting.

Rules: ` + ruleList() + `.`,
		Example: `  pbxtopo audit --severity warning
  pbxtopo audit --fail-on critical -o json`,
		Args: userArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			var fail roaming.Severity
			if failOn != "" {
				if fail, err = roaming.ParseSeverity(failOn); err != nil {
					return userError{fmt.Errorf("--fail-on: %w", err)}
				}
			}
			q.MinSecretLength = a.v.GetInt("audit.min_secret_length")
			q.MinPINLength = a.v.GetInt("audit.min_pin_length")
			if s := a.v.GetString("audit.hotdesk_contexts"); s != "" {
				q.HotDeskContexts = strings.Split(s, ",")
			}
			api, done, err := backendAs[service.RoamingAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			res, err := api.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			switch format {
			case "json":
				err = printJSON(a.stdout, res)
			case "csv":
				err = writeAuditCSV(a.stdout, res)
			default:
				printAudit(a.stdout, res)
			}
			if err != nil {
				return err
			}
			if n := res.AlertingAtLeast(fail); failOn != "" && n > 0 {
				return usageErrorf("%d unacknowledged findings at %s or above (--fail-on %s)", n, fail, fail)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Severity, "severity", "", "show findings at this severity or above: info (default), warning, critical")
	f.StringVar(&failOn, "fail-on", "", "exit 1 when an unacknowledged finding is at this severity or above")
	f.Int("min-secret-length", 0, "SIP secrets shorter than this are weak (default 12; config audit.min_secret_length)")
	f.Int("min-pin-length", 0, "voicemail PINs shorter than this are weak (default 6; config audit.min_pin_length)")
	f.String("hotdesk-contexts", "", "contexts a hot desk phone may have (default: its group's contexts; config audit.hotdesk_contexts)")
	a.v.BindPFlag("audit.min_secret_length", f.Lookup("min-secret-length"))
	a.v.BindPFlag("audit.min_pin_length", f.Lookup("min-pin-length"))
	a.v.BindPFlag("audit.hotdesk_contexts", f.Lookup("hotdesk-contexts"))
	cmd.AddCommand(a.ackCmd(), a.unackCmd())
	return cmd
}

func ruleList() string {
	ids := make([]string, len(roaming.Rules))
	for i, r := range roaming.Rules {
		ids[i] = r.ID + " (" + r.Title + ")"
	}
	return strings.Join(ids, ", ")
}

func printAudit(w io.Writer, r *roaming.AuditResult) {
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "no findings")
	}
	printFindings(w, r.Findings)
	for _, ack := range r.StaleAcks {
		fmt.Fprintf(w, "\nacknowledgement of %s (by %s) matches no current finding: remove it with 'pbxtopo audit unack %s'\n", ack.Finding, ack.By, ack.Finding)
	}
	fmt.Fprintf(w, "\n%d findings shown, %d acknowledged; alerting: %d critical, %d warning, %d info (store version %s)\n",
		len(r.Findings), r.Acknowledged, r.Alerting["critical"], r.Alerting["warning"], r.Alerting["info"], r.Version)
}

// csvCells makes cells a spreadsheet would run as formulas inert.
func csvCells(vs ...string) []string {
	for i, v := range vs {
		vs[i] = pbx.CSVCell(v)
	}
	return vs
}

func writeAuditCSV(w io.Writer, r *roaming.AuditResult) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "rule", "severity", "summary", "records", "why", "fix", "ack_by", "ack_why", "ack_at"})
	for _, f := range r.Findings {
		var by, why, at string
		if f.Ack != nil {
			by, why, at = f.Ack.By, f.Ack.Why, f.Ack.At
		}
		cw.Write(csvCells(f.ID, f.Rule, f.Severity.String(), f.Summary, strings.Join(f.Records, ";"), f.Why, f.Fix, by, why, at))
	}
	cw.Flush()
	return cw.Error()
}

func (a *app) ackCmd() *cobra.Command {
	var req service.AckRequest
	cmd := &cobra.Command{
		Use:     "ack FINDING-ID --why TEXT [--by WHO]",
		Short:   "Acknowledge a finding: it stays in the audit but stops alerting (replicates to every cluster)",
		Example: `  pbxtopo audit ack SEC-TRUNK-ORPHAN:tpa1:BT --by alice --why "BT trunk is being provisioned, ticket 4711"`,
		Args:    userArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Finding = args[0]
			api, done, err := backendAs[service.RoamingAPI](a, true)
			if err != nil {
				return err
			}
			defer done()
			reply, err := api.Ack(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "acknowledged %s (%s)\n", req.Finding, strings.Join(reply.Versions, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&req.By, "by", "", "who accepts the finding (default: the API token's name, or local)")
	cmd.Flags().StringVar(&req.Why, "why", "", "why it is accepted (required)")
	return cmd
}

func (a *app) unackCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "unack FINDING-ID",
		Short:   "Remove an acknowledgement: the finding alerts again",
		Example: "  pbxtopo audit unack SEC-TRUNK-ORPHAN:tpa1:BT",
		Args:    userArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, done, err := backendAs[service.RoamingAPI](a, true)
			if err != nil {
				return err
			}
			defer done()
			if _, err := api.Unack(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s alerts again\n", args[0])
			return nil
		},
	}
}

func (a *app) dundiCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dundi", Short: "DUNDi: publish each cluster's dundi.conf, dialplan and IAX2 user; ask any DUNDi peer"}
	var cluster, out string
	config := &cobra.Command{
		Use:   "config --cluster C [--out DIR]",
		Short: "Generate a cluster's DUNDi files; print them, or write them atomically into DIR",
		Long: `Generates, for one cluster, the files that make every roaming number reachable from
every cluster: ` + roaming.DUNDiFile + ` (the [general] entity id, the [mappings] line and one
peer section per other cluster, model symmetric, keys pbxtopo-CLUSTER), ` + roaming.ExtensionsFile + `
(the numbers the cluster answers for, and the DUNDi switch context) and ` + roaming.IAXFile + `
(the IAX2 user calls arrive as). The same data always gives the same bytes; each file names
the store version it comes from. With --out the files are written atomically and unchanged
files are left alone; without --cluster, --out gets one directory per cluster.`,
		Example: `  pbxtopo dundi config --cluster tpa1
  pbxtopo dundi config --cluster tpa1 --out /etc/asterisk/pbxtopo`,
		Args: userArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			if cluster == "" && out == "" {
				return usageErrorf("say which cluster (--cluster C), or give --out DIR to write every cluster's files")
			}
			ra, done, err := backendAs[interface {
				service.API
				service.RoamingAPI
			}](a, false)
			if err != nil {
				return err
			}
			defer done()
			clusters := []string{cluster}
			if cluster == "" {
				page, err := ra.List(cmd.Context(), "clusters", service.Query{})
				if err != nil {
					return err
				}
				clusters = clusters[:0]
				for _, c := range page.Rows {
					clusters = append(clusters, c["name"])
				}
			}
			for _, c := range clusters {
				b, err := ra.DUNDiConfig(cmd.Context(), c)
				if err != nil {
					return err
				}
				if err := a.emitBundle(b, format, out, cluster == ""); err != nil {
					return err
				}
			}
			return nil
		},
	}
	config.Flags().StringVar(&cluster, "cluster", "", "the cluster whose files to generate")
	config.Flags().StringVar(&out, "out", "", "write the files into this directory instead of printing them")
	cmd.AddCommand(config, a.dundiApplyCmd(), a.dundiLookupCmd(), a.dundiKeysCmd())
	return cmd
}

func (a *app) emitBundle(b *roaming.Bundle, format, out string, perCluster bool) error {
	if out == "" {
		if format == "json" {
			return printJSON(a.stdout, b)
		}
		for i, f := range b.Files {
			if i > 0 {
				fmt.Fprintln(a.stdout)
			}
			io.WriteString(a.stdout, f.Content)
		}
		return nil
	}
	dir := out
	if perCluster {
		dir = filepath.Join(out, b.Cluster)
	}
	changed, err := roaming.WriteBundle(dir, b)
	if err != nil {
		return userError{err}
	}
	state := "unchanged"
	if len(changed) > 0 {
		state = "wrote " + strings.Join(changed, ", ")
	}
	fmt.Fprintf(a.stdout, "%s: %s in %s (%d numbers, %d peers, entity %s, store version %s)\n",
		b.Cluster, state, dir, b.Numbers, len(b.Peers), b.EntityID, b.Version.Summary)
	return nil
}

// userArgs makes a wrong argument count a user error (exit 1).
func userArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return userError{fmt.Errorf("%w (see 'pbxtopo %s --help')", err, strings.TrimPrefix(cmd.CommandPath(), "pbxtopo "))}
		}
		return nil
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
