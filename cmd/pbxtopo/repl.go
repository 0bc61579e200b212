package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
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
			head := []string{"node", "cluster", "site", "role", "status", "raft", "gossip", "replication", "api", "certificate"}
			row := func(m replicator.Member) []string {
				t := m.Tags
				return []string{m.Node, t[replicator.TagCluster], t[replicator.TagSite], t[replicator.TagRole], m.Status,
					t[replicator.TagRaftState], m.Addr, t[replicator.TagRepl], t[replicator.TagHTTP], m.Certificate}
			}
			return a.print(result{JSON: ms, Head: head, Rows: rowsOf(ms, row), Table: func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, strings.ToUpper(strings.Join(head, "\t")))
				for _, m := range ms {
					cells := row(m)
					for i := range cells {
						cells[i] = dash(cells[i])
					}
					fmt.Fprintln(tw, strings.Join(cells, "\t"))
				}
				return tw.Flush()
			}})
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
			return a.print(result{JSON: st, Head: linkHead, Rows: func() [][]string {
				var rows [][]string
				for _, l := range st.Links {
					rows = append(rows, linkRow(l, time.Now()))
				}
				return rows
			}, Table: func(w io.Writer) error { return printReplStatus(w, st) }})
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
			err = a.print(result{JSON: v, Head: []string{"replica", "state", "detail"}, Rows: func() [][]string {
				var rows [][]string
				for _, row := range v.Rows {
					rows = append(rows, []string{row.Cluster, row.State, verifyDetail(row)})
				}
				return rows
			}, Table: func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "REPLICA\tSTATE\tDETAIL")
				for _, row := range v.Rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", row.Cluster, row.State, dash(verifyDetail(row)))
				}
				tw.Flush()
				if v.AllSame {
					fmt.Fprintf(w, "every replica matches %s\n", v.Cluster)
				}
				return nil
			}})
			if err != nil || v.AllSame {
				return err
			}
			var bad []string
			for _, row := range v.Rows {
				if row.State != "same" {
					bad = append(bad, row.Cluster+" "+row.State)
				}
			}
			return usageErrorf("%d of %d replicas do not match %s: %s", len(bad), len(v.Rows), v.Cluster, strings.Join(bad, ", "))
		},
	}
	var ch service.TopologyChange
	var order, siteTables string
	topo := &cobra.Command{
		Use:   "topology [--mode M] [--order a,b,c] [--primary C] [--site-tables t1,t2] [--force]",
		Short: "Show the replication topology, or change it everywhere without a restart",
		Long: `Without flags, shows the topology in force: mode, ring order, primary, site tables. With
flags, changes those parts in the replicated topology record; every cluster follows within a
second. A change that is most likely a mistake is refused with the reason: a ring order that
leaves out a cluster that is alive (nobody would pull its changes), a primary outside primary
mode, a cluster that no record or member names. --force makes it anyway.`,
		Example: `  pbxtopo repl topology
  pbxtopo repl topology --mode ring --order tpa1,tpa2,sfo,lon,ams
  pbxtopo repl topology --mode primary --primary tpa1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if order != "" {
				ch.Order = pbx.List(order)
			}
			if siteTables != "" {
				ch.SiteTables = pbx.List(siteTables)
			}
			if ch.Mode == "" && ch.Order == nil && ch.Primary == "" && ch.SiteTables == nil {
				if ch.Force {
					return usageErrorf("--force alone changes nothing: give --mode, --order, --primary or --site-tables")
				}
				return a.showTopology(cmd)
			}
			return a.setTopology(cmd, ch)
		},
	}
	topo.Flags().StringVar(&ch.Mode, "mode", "", "ring, mesh, primary or site")
	topo.Flags().StringVar(&order, "order", "", "ring order of clusters, comma-separated")
	topo.Flags().StringVar(&ch.Primary, "primary", "", "the primary cluster (primary mode)")
	topo.Flags().StringVar(&siteTables, "site-tables", "", "tables kept within a site (site mode)")
	topo.Flags().BoolVar(&ch.Force, "force", false, "make a change that would be refused as a likely mistake")
	var force bool
	promote := &cobra.Command{
		Use:   "promote CLUSTER [--force]",
		Short: "Make CLUSTER the primary (primary mode); works while the old primary is down",
		Long: `Moves the primary of primary mode to CLUSTER. Refused in another mode, where no cluster is
primary (--force sets it anyway, for a later switch to primary mode).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.setTopology(cmd, service.TopologyChange{Primary: args[0], Force: force})
		},
	}
	promote.Flags().BoolVar(&force, "force", false, "set the primary although the topology is not in primary mode")
	repl.AddCommand(status, verify, topo, promote, a.replDecommissionCmd())
	return repl
}

// showTopology prints the topology in force (from the replication status).
func (a *app) showTopology(cmd *cobra.Command) error {
	r, done, err := backendAs[service.ReplicationAPI](a, false)
	if err != nil {
		return err
	}
	defer done()
	st, err := r.ReplStatus(cmd.Context())
	if err != nil {
		return err
	}
	view := map[string]any{"mode": st.Mode, "order": st.Order, "primary": st.Primary, "site_tables": st.SiteTables}
	return a.print(result{JSON: view, Table: func(w io.Writer) error {
		fmt.Fprintf(w, "mode         %s\n", st.Mode)
		fmt.Fprintf(w, "order        %s\n", dash(strings.Join(st.Order, ",")))
		fmt.Fprintf(w, "primary      %s\n", dash(st.Primary))
		fmt.Fprintf(w, "site tables  %s\n", dash(strings.Join(st.SiteTables, ",")))
		return nil
	}})
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
			row := func(cv service.ConflictView) []string {
				var sides []string
				for _, c := range cv.Conflicts {
					for _, sd := range c.Sides {
						if !slices.Contains(sides, sd.Cluster) {
							sides = append(sides, sd.Cluster)
						}
					}
				}
				return []string{cv.Ref, strings.Join(sides, " "), cv.Conflicts[0].Sides[0].Cluster, strings.Join(cv.Differ, " ")}
			}
			return a.print(result{JSON: cs, Head: []string{"record", "sides", "shown", "fields"}, Rows: rowsOf(cs, row), Table: func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "RECORD\tSIDES\tSHOWN\tFIELDS IN CONFLICT")
				for _, cv := range cs {
					r := row(cv)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r[0], strings.ReplaceAll(r[1], " ", ", "), r[2], strings.ReplaceAll(r[3], " ", ", "))
				}
				tw.Flush()
				if len(cs) == 0 {
					fmt.Fprintln(w, "no conflicts")
				}
				return nil
			}})
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
			return a.print(result{JSON: cv, Table: func(w io.Writer) error {
				for i, c := range cv.Conflicts {
					if i > 0 {
						fmt.Fprintln(w)
					}
					printFieldConflict(w, cv.Ref, c)
				}
				return nil
			}})
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
			nodes := slices.Sorted(maps.Keys(st.Servers))
			return a.print(result{JSON: st, Head: []string{"node", "suffrage", "leader"}, Rows: func() [][]string {
				var rows [][]string
				for _, n := range nodes {
					rows = append(rows, []string{n, st.Servers[n], yesNo(n == st.Leader)})
				}
				return rows
			}, Table: func(w io.Writer) error {
				fmt.Fprintf(w, "node %s is %s; leader %s\n", st.Node, st.State, dash(st.Leader))
				for _, n := range nodes {
					fmt.Fprintf(w, "  %s  %s\n", n, st.Servers[n])
				}
				return nil
			}})
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
			return a.print(result{JSON: map[string]string{"removed": args[0]}, Table: func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s removed from the Raft configuration\n", args[0])
				return err
			}})
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

// verifyDetail says why a replica is not the same.
func verifyDetail(row service.VerifyRow) string {
	switch row.State {
	case "differs":
		return "tables differ: " + strings.Join(row.Tables, ", ")
	case "catching-up":
		return fmt.Sprintf("it lacks %d of our changes; we lack %d of its", row.Ahead, row.Behind)
	case "unreachable":
		return row.Error
	}
	return ""
}
