package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/spf13/cobra"
)

func (a *app) membersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the nodes of the enterprise: cluster, site, role, status, addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, done, err := backendAs[service.ReplicationAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			ms, err := r.Members(cmd.Context())
			if err != nil {
				return err
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, ms)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tCLUSTER\tSITE\tROLE\tSTATUS\tRAFT\tGOSSIP\tREPLICATION\tAPI\tCERTIFICATE")
			for _, m := range ms {
				t := m.Tags
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Node, t[replicator.TagCluster], dash(t[replicator.TagSite]),
					dash(t[replicator.TagRole]), m.Status, dash(t[replicator.TagRaftState]), m.Addr, dash(t[replicator.TagRepl]), dash(t[replicator.TagHTTP]),
					dash(m.Certificate))
			}
			return tw.Flush()
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) replCmd() *cobra.Command {
	repl := &cobra.Command{Use: "repl", Short: "Replication: status, verify, topology, promote"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Per peer link: mode, last contact, changes and seconds behind, bytes/s",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, done, err := backendAs[service.ReplicationAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			st, err := r.ReplStatus(cmd.Context())
			if err != nil {
				return err
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, st)
			}
			fmt.Fprintf(a.stdout, "cluster %s, mode %s", st.Cluster, st.Mode)
			if len(st.Order) > 0 {
				fmt.Fprintf(a.stdout, ", order %s", strings.Join(st.Order, " → "))
			}
			if st.Mode == replicator.Primary {
				fmt.Fprintf(a.stdout, ", primary %s", st.Primary)
			}
			fmt.Fprintf(a.stdout, "; clock skew alarms: %d\n", st.SkewSeen)
			if st.DiskFull {
				fmt.Fprintln(a.stdout, "ALARM: the disk holding the store is full: writes are refused until space is freed (they resume by themselves)")
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PEER\tADDR\tSTATE\tPROTOCOL\tLAST CONTACT\tBEHIND\tSECONDS BEHIND\tBYTES/S\tAPPLIED\tCONFLICTS\tERROR")
			for _, l := range st.Links {
				state := "connected"
				if !l.Connected {
					state = "down"
				}
				contact := "never"
				if !l.LastContact.IsZero() {
					contact = time.Since(l.LastContact).Round(time.Millisecond).String() + " ago"
				}
				proto := "-"
				if l.Protocol > 0 {
					proto = fmt.Sprint(l.Protocol)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%.1f\t%.0f\t%d\t%d\t%s\n", l.Peer, dash(l.Addr), state, proto, contact, l.Behind,
					l.SecondsBehind, l.BytesPerSec, l.Applied, l.Conflicts, dash(l.LastError))
			}
			printStatusLinks(tw, st.StatusLinks)
			return tw.Flush()
		},
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Ask every reachable replica for its digests: do they hold the same data?",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, done, err := backendAs[service.ReplicationAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			v, err := r.ReplVerify(cmd.Context())
			if err != nil {
				return err
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, v)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "REPLICA\tSTATE\tDETAIL")
			for _, row := range v.Rows {
				detail := ""
				switch row.State {
				case "differs":
					detail = "tables differ: " + strings.Join(row.Tables, ", ")
				case "catching-up":
					detail = fmt.Sprintf("it lacks %d of our changes; we lack %d of its", row.Ahead, row.Behind)
				case "unreachable":
					detail = row.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", row.Cluster, row.State, dash(detail))
			}
			tw.Flush()
			if v.AllSame {
				fmt.Fprintf(a.stdout, "every replica matches %s\n", v.Cluster)
			}
			return nil
		},
	}
	var ch service.TopologyChange
	var order, siteTables string
	topo := &cobra.Command{
		Use:   "topology [--mode M] [--order a,b,c] [--primary C] [--site-tables t1,t2]",
		Short: "Change the replication topology everywhere, without a restart",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if order != "" {
				ch.Order = pbx.List(order)
			}
			if siteTables != "" {
				ch.SiteTables = pbx.List(siteTables)
			}
			return a.setTopology(cmd, ch)
		},
	}
	topo.Flags().StringVar(&ch.Mode, "mode", "", "ring, mesh, primary or site")
	topo.Flags().StringVar(&order, "order", "", "ring order of clusters, comma-separated")
	topo.Flags().StringVar(&ch.Primary, "primary", "", "the primary cluster (primary mode)")
	topo.Flags().StringVar(&siteTables, "site-tables", "", "tables kept within a site (site mode)")
	promote := &cobra.Command{
		Use:   "promote CLUSTER",
		Short: "Make CLUSTER the primary (primary mode); works while the old primary is down",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.setTopology(cmd, service.TopologyChange{Primary: args[0]})
		},
	}
	repl.AddCommand(status, verify, topo, promote, a.replDecommissionCmd())
	return repl
}

func (a *app) setTopology(cmd *cobra.Command, ch service.TopologyChange) error {
	r, done, err := backendAs[service.ReplicationAPI](a, true)
	if err != nil {
		return err
	}
	defer done()
	reply, err := r.SetTopology(cmd.Context(), ch)
	if err != nil {
		return err
	}
	return a.printWrite(reply, "topology changed")
}

func (a *app) conflictsCmd() *cobra.Command {
	c := &cobra.Command{Use: "conflicts", Short: "List, show and resolve concurrent writes"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List records with concurrent versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, done, err := backendAs[service.ReplicationAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			cs, err := r.Conflicts(cmd.Context())
			if err != nil {
				return err
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, cs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RECORD\tSIDES\tSHOWN\tFIELDS IN CONFLICT")
			for _, cv := range cs {
				var sides []string
				for _, c := range cv.Conflicts {
					for _, sd := range c.Sides {
						if !slices.Contains(sides, sd.Cluster) {
							sides = append(sides, sd.Cluster)
						}
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cv.Ref, strings.Join(sides, ", "), cv.Conflicts[0].Sides[0].Cluster, strings.Join(cv.Differ, ", "))
			}
			tw.Flush()
			if len(cs) == 0 {
				fmt.Fprintln(a.stdout, "no conflicts")
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show TABLE/KEY",
		Short: "Show every side of a conflict: which cluster, when, which fields differ",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, done, err := backendAs[service.ReplicationAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			cv, err := r.Conflict(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if t, err := pbx.LookupTable(cv.Table); err == nil && !a.v.GetBool("show-secrets") {
				cv.Fields = t.Redact(cv.Fields)
				for i := range cv.Conflicts {
					for j := range cv.Conflicts[i].Sides {
						cv.Conflicts[i].Sides[j].Fields = t.Redact(cv.Conflicts[i].Sides[j].Fields)
					}
				}
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, cv)
			}
			for i, c := range cv.Conflicts {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				printFieldConflict(a.stdout, cv.Ref, c)
			}
			return nil
		},
	}
	var take, valueFile, field string
	resolve := &cobra.Command{
		Use:   "resolve TABLE/KEY [--field F] --take CLUSTER | --value FILE|V",
		Short: "Keep one side (or write a new value) of every conflict of a record, or of one field; it replicates everywhere",
		Example: `  pbxtopo conflicts resolve tpa1/6105 --take lon
  pbxtopo conflicts resolve tpa1/6105 --field name --take tpa1
  pbxtopo conflicts resolve tpa1/6105 --field name --value "Ken Thomas"
  pbxtopo conflicts resolve extensions/tpa1/6105 --value fixed.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := service.ResolveRequest{Take: take, Field: field}
			switch {
			case valueFile != "" && field != "":
				// One field: the value itself (its group's other fields keep
				// the value the record shows).
				req.Value = pbx.Fields{field: valueFile}
			case valueFile != "":
				b, err := os.ReadFile(valueFile)
				if err != nil {
					return userError{err}
				}
				if err := json.Unmarshal(b, &req.Value); err != nil {
					return usageErrorf("%s: want a JSON object of fields: %v", valueFile, err)
				}
			}
			r, done, err := backendAs[service.ReplicationAPI](a, true)
			if err != nil {
				return err
			}
			defer done()
			reply, err := r.Resolve(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return a.printWrite(reply, "resolved "+args[0])
		},
	}
	resolve.Flags().StringVar(&take, "take", "", "keep the side made at this cluster")
	resolve.Flags().StringVar(&valueFile, "value", "", "a JSON file with the new record; with --field, the field's new value")
	resolve.Flags().StringVar(&field, "field", "", "resolve only the conflict of this field (and the fields that change with it)")
	c.AddCommand(list, show, resolve)
	return c
}

func (a *app) raftCmd() *cobra.Command {
	r := &cobra.Command{Use: "raft", Short: "The cluster's consensus: who leads, who votes; remove a node for good"}
	r.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "This node's Raft state, the leader and the voters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ra, done, err := backendAs[service.RaftAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			st, err := ra.RaftStatus(cmd.Context())
			if err != nil {
				return err
			}
			if f, _ := a.format(); f == "json" {
				return printJSON(a.stdout, st)
			}
			fmt.Fprintf(a.stdout, "node %s is %s; leader %s\n", st.Node, st.State, dash(st.Leader))
			for n, kind := range st.Servers {
				fmt.Fprintf(a.stdout, "  %s  %s\n", n, kind)
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "remove NODE",
		Short: "Remove a node from its cluster's Raft configuration for good (run against the leader)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ra, done, err := backendAs[service.RaftAPI](a, true)
			if err != nil {
				return err
			}
			defer done()
			if err := ra.RaftRemove(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s removed from the Raft configuration\n", args[0])
			return nil
		},
	})
	return r
}

func (a *app) replDecommissionCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "decommission CLUSTER [--force]",
		Short: "Take a cluster out of the enterprise for good and revoke its certificates",
		Long: `Removes the cluster in one replicated change: its cluster record (DNS and DUNDi drop it),
its place in the ring order and in every other cluster's failover list, and its watermark, so
tombstone collection stops waiting for it. The cluster goes on the revocation list: every agent
refuses, both ways, replication with a certificate of that cluster issued before now, so the
cluster cannot come back with its old certificates and store. A cluster rebuilt later under the
same name needs new certificates. Run it against another cluster's agent (admin); move the
cluster's extensions away first (pbxtopo ext move), or --force to leave them behind.`,
		Example: "  pbxtopo repl decommission ams",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := backendAs[service.DecommissionAPI](a, true)
			if err != nil {
				return err
			}
			defer done()
			reply, err := d.Decommission(cmd.Context(), service.DecommissionRequest{Cluster: args[0], Force: force})
			if err != nil {
				return err
			}
			return a.printWrite(reply, "decommissioned cluster "+args[0]+"; its certificates are revoked")
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "decommission even though extensions remain on the cluster")
	return cmd
}

// printFieldConflict prints one conflict of a record: its sides side by
// side, the shown one first, and how to resolve it.
func printFieldConflict(w io.Writer, ref string, c service.FieldConflictView) {
	what := "the whole record"
	if len(c.Fields) > 0 {
		what = strings.Join(c.Fields, " + ")
	}
	fmt.Fprintf(w, "%s: %s", ref, what)
	if c.Reason != "" {
		fmt.Fprintf(w, " (%s)", c.Reason)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "FIELD")
	for i, sd := range c.Sides {
		mark := ""
		if i == 0 {
			mark = " (shown)"
		}
		fmt.Fprintf(tw, "\t%s%s", sd.Cluster, mark)
	}
	fmt.Fprintln(tw)
	fmt.Fprint(tw, "written")
	for _, sd := range c.Sides {
		fmt.Fprintf(tw, "\t%s by %s", sd.Time.Format(time.DateTime), sd.Author)
	}
	fmt.Fprintln(tw)
	fields := c.Fields
	if fields == nil {
		seen := map[string]bool{}
		for _, sd := range c.Sides {
			for k, v := range sd.Fields {
				if !seen[k] && slices.ContainsFunc(c.Sides, func(o service.SideView) bool { return o.Fields[k] != v }) {
					seen[k] = true
					fields = append(fields, k)
				}
			}
		}
		slices.Sort(fields)
	}
	for _, f := range fields {
		fmt.Fprint(tw, f)
		for _, sd := range c.Sides {
			val := sd.Fields[f]
			if sd.Deleted {
				val = "(deleted)"
			}
			fmt.Fprintf(tw, "\t%s", dash(val))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fieldFlag := ""
	if len(c.Fields) > 0 {
		fieldFlag = " --field " + c.Fields[0]
	}
	fmt.Fprintf(w, "resolve with: pbxtopo conflicts resolve %s%s --take %s (or --value)\n", ref, fieldFlag, c.Sides[0].Cluster)
}
