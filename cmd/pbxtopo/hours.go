package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/spf13/cobra"
)

func (a *app) hoursCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hours",
		Short: "Business hours: is a group open now, and its GotoIfTime dialplan",
		Long: `Business hours (the hours table, guide §3.0.2) are read in the IANA time zone of the row
(timezone) or else of its site (sites.timezone), so DST moves them with the local clock. A
closing rule (CLOSED, HOLIDAY..., any function but OPEN) that holds closes the group; else an
OPEN rule that holds opens it; else it is closed. Dates are year-less (12/25 every year).`,
	}
	var cluster, at string
	now := &cobra.Command{
		Use:   "now GROUP [--cluster C] [--at TIME]",
		Short: "Say whether a group is open now (or at --at), and the rule that decided",
		Example: `  pbxtopo hours now USSales --addr http://127.0.0.1:7480
  pbxtopo hours now USSales --at 2026-12-25T15:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			when := time.Now()
			if at != "" {
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return usageErrorf("--at %q: give an RFC 3339 time such as 2026-12-25T15:00:00Z or 2026-12-25T10:00:00-05:00", at)
				}
			}
			ha, done, err := backendAs[service.HoursAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			ans, err := ha.HoursNow(cmd.Context(), args[0], cluster, when)
			if err != nil {
				return userError{err}
			}
			row := func(d pbx.HoursDecision) []string {
				state := "CLOSED"
				if d.Open {
					state = "OPEN"
				}
				return []string{d.Cluster, d.Group, state, d.Rule, d.Local, d.Reason}
			}
			return a.print(result{JSON: ans, Head: []string{"cluster", "group", "state", "rule", "local_time", "reason"}, Rows: rowsOf(ans.Decisions, row), Table: func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "CLUSTER\tGROUP\tSTATE\tRULE\tLOCAL TIME\tREASON")
				for _, d := range ans.Decisions {
					r := row(d)
					r[3] = dash(r[3])
					fmt.Fprintln(tw, strings.Join(r, "\t"))
				}
				return tw.Flush()
			}})
		},
	}
	now.Flags().StringVar(&cluster, "cluster", "", "only this cluster (default: every cluster with hours for the group)")
	now.Flags().StringVar(&at, "at", "", "the time to ask about, RFC 3339 (default: now)")
	var dcluster string
	dialplan := &cobra.Command{
		Use:   "dialplan GROUP [--cluster C]",
		Short: "Print the group's business hours as an Asterisk GotoIfTime routine",
		Long: `Prints, per cluster, a context [pbxtopo-hours-CLUSTER-GROUP] to call with Gosub: it sets
${PBXTOPO_HOURS} (the function that decided, or AFTERHOURS), ${PBXTOPO_HOURS_OPEN} (1 or 0) and
${PBXTOPO_HOURS_ANNOUNCEMENT}, deciding as 'hours now' does. Every GotoIfTime carries the time
zone argument, so Asterisk reads the times in the site's zone whatever the server's.`,
		Example: "  pbxtopo hours dialplan USSales --cluster tpa1 > /etc/asterisk/pbxtopo/hours-USSales.conf",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			ha, done, err := backendAs[service.HoursAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			v, err := ha.HoursDialplan(cmd.Context(), args[0], dcluster)
			if err != nil {
				return userError{err}
			}
			if format == "json" {
				return printJSON(a.stdout, v)
			}
			_, err = fmt.Fprint(a.stdout, v.Text)
			return err
		},
	}
	dialplan.Flags().StringVar(&dcluster, "cluster", "", "only this cluster")
	cmd.AddCommand(now, dialplan)
	return cmd
}
