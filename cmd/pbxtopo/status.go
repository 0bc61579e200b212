package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	var node string
	var fail bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "This node's verify report: role, Asterisk, voice VIP, trunks, peers, replication",
		Long: `Prints the verify report of a node, like the guide's "sip-ha -v": whether the node
holds the voice VIP, whether its Asterisk answers on the manager interface, whether the VIP
answers SIP, which trunks are available, the store, and (from the replicator) peers and
replication. The data comes from the status the node's AMI collector writes every few
seconds; a report older than 90 s says so. -o json for monitoring.`,
		Example: "  pbxtopo status\n  pbxtopo status --node ast16 -o json\n  pbxtopo status --fail   # exit 1 unless NORMAL",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, done, err := backendAs[service.StatusAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			rep, err := st.StatusReport(cmd.Context(), node)
			if err != nil {
				return err
			}
			f, err := a.format()
			if err != nil {
				return err
			}
			if f == "json" {
				err = printJSON(a.stdout, rep)
			} else {
				err = rep.WriteText(a.stdout)
			}
			if err == nil && fail && rep.Verdict != "NORMAL" {
				return usageErrorf("verdict %s: %s", rep.Verdict, strings.Join(rep.Problems, "; "))
			}
			return err
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "the node to report on (default: the one holding the voice VIP)")
	cmd.Flags().BoolVar(&fail, "fail", false, "exit 1 when the verdict is not NORMAL")
	cmd.AddCommand(a.statusExtensionsCmd())
	return cmd
}

// statusColumns are the columns of "status extensions".
var statusColumns = []column{{"ext", "regexten"}, {"name", "name"}, {"reg", "regstatus"}, {"address", "ipaddr"},
	{"ms", "lastms"}, {"user agent", "useragent"}, {"state", "extstatus"}, {"agent", "agentstatus"},
	{"queues", "queue"}, {"vm new/old", "vm"}, {"cfwd", "cfwdto"}, {"node", "regserver"}}

func (a *app) statusExtensionsCmd() *cobra.Command {
	var cluster string
	cmd := &cobra.Command{
		Use:     "extensions",
		Short:   "Live status of every extension: registration, device, agent and queues, voicemail, call forward",
		Example: "  pbxtopo status extensions\n  pbxtopo status extensions --cluster sfo -o csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, done, err := backendAs[service.StatusAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			rows, err := st.ExtensionStatus(cmd.Context(), cluster)
			if err != nil {
				return err
			}
			f, err := a.format()
			if err != nil {
				return err
			}
			switch f {
			case "json":
				return printJSON(a.stdout, rows)
			case "csv":
				return pbx.WriteCSV(a.stdout, []string{"cluster", "regexten", "name", "regstatus", "ipaddr", "port", "lastms",
					"useragent", "regseconds", "regserver", "extstatus", "devicestate", "agentstatus", "pausereason", "queue",
					"queuepaused", "vmunread", "vmold", "cfwdset", "cfwdto", "updated"}, rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			heads := make([]string, len(statusColumns))
			for i, c := range statusColumns {
				heads[i] = strings.ToUpper(c.head)
			}
			fmt.Fprintln(tw, strings.Join(heads, "\t"))
			for _, r := range rows {
				if r["vmunread"] != "" || r["vmold"] != "" {
					r["vm"] = r["vmunread"] + "/" + r["vmold"]
				}
				if r["agentstatus"] == "paused" && r["pausereason"] != "" {
					r["agentstatus"] += " (" + r["pausereason"] + ")"
				}
				vals := make([]string, len(statusColumns))
				for i, c := range statusColumns {
					vals[i] = r[c.field]
					if vals[i] == "" {
						vals[i] = "-"
					}
				}
				fmt.Fprintln(tw, strings.Join(vals, "\t"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "the cluster (default: the store's own)")
	return cmd
}
