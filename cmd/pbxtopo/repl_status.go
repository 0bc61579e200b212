package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/replicator/mysql"
	"github.com/pbxtopo/pbxtopo/service"
)

// linkHead names the columns of a peer row of `repl status` (CSV).
var linkHead = []string{"peer", "state", "addr", "protocol", "last_contact", "changes_behind", "seconds_behind",
	"bytes_per_sec", "applied", "conflicts", "detail"}

// linkRow is one peer of `repl status`.
func linkRow(l replicator.LinkStatus, now time.Time) []string {
	contact := "never"
	if !l.LastContact.IsZero() {
		contact = now.Sub(l.LastContact).Round(time.Millisecond).String() + " ago"
	}
	proto := ""
	if l.Protocol > 0 {
		proto = fmt.Sprint(l.Protocol)
	}
	detail := l.Detail
	if detail == "" {
		detail = l.LastError
	}
	return []string{l.Peer, l.State, l.Addr, proto, contact, fmt.Sprint(l.Behind), fmt.Sprintf("%.1f", l.SecondsBehind),
		fmt.Sprintf("%.0f", l.BytesPerSec), fmt.Sprint(l.Applied), fmt.Sprint(l.Conflicts), detail}
}

// printReplStatus prints `repl status` for people: the topology, one row
// per peer cluster, then the status links.
func printReplStatus(w io.Writer, st *service.ReplStatus) error {
	fmt.Fprintf(w, "cluster %s, mode %s", st.Cluster, st.Mode)
	if len(st.Order) > 0 {
		fmt.Fprintf(w, ", order %s", strings.Join(st.Order, " → "))
	}
	if st.Mode == replicator.Primary {
		fmt.Fprintf(w, ", primary %s", st.Primary)
	}
	fmt.Fprintf(w, "; clock skew alarms: %d\n", st.SkewSeen)
	if st.RunsOn != "" || len(st.Links) > 0 && st.Links[0].State == "on-leader" {
		fmt.Fprintf(w, "this node (%s) follows its cluster's Raft leader, which runs replication: ", dash(st.Node))
		switch {
		case st.RunsOn == "":
			fmt.Fprintln(w, "the cluster has no leader now")
		case st.RunsOnAPI != "":
			fmt.Fprintf(w, "%s; ask it: pbxtopo --addr %s repl status\n", st.RunsOn, st.RunsOnAPI)
		default:
			fmt.Fprintln(w, st.RunsOn)
		}
	}
	if st.DiskFull {
		fmt.Fprintln(w, "ALARM: the disk holding the store is full: writes are refused until space is freed (they resume by themselves)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tSTATE\tADDR\tPROTOCOL\tLAST CONTACT\tBEHIND\tSECONDS BEHIND\tBYTES/S\tAPPLIED\tCONFLICTS\tDETAIL")
	now := time.Now()
	for _, l := range st.Links {
		cells := linkRow(l, now)
		for i := range cells {
			cells[i] = dash(cells[i])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	printStatusLinks(tw, st.StatusLinks)
	if err := tw.Flush(); err != nil {
		return err
	}
	printBridge(w, st.MySQL)
	return nil
}

// printStatusLinks adds the status replication links to `repl status`:
// live status pulled from each source, coalesced (docs: "Status
// replication").
func printStatusLinks(w io.Writer, links []replicator.StatusLinkStats) {
	if len(links) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSTATUS FROM\tLAST PULL\tPULLS\tRECEIVED\tMERGED\tSERVED\tBYTES SERVED\tERROR")
	for _, l := range links {
		pull := "never"
		if !l.LastPull.IsZero() {
			pull = time.Since(l.LastPull).Round(time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", l.Peer, pull, l.Pulls, l.Received, l.Merged, l.Served, l.BytesOut, dash(l.LastError))
	}
}

// printBridge shows the MySQL bridge and its parked rows.
func printBridge(w io.Writer, b *mysql.BridgeStatus) {
	if b == nil {
		return
	}
	state := b.State
	if state == mysql.StateStopped {
		state += " (it runs on the cluster's Raft leader)"
	}
	fmt.Fprintf(w, "\nMySQL bridge %s (mapping %s): %s at %s, %.1f s behind; rows in %d, out %d; %d parked\n",
		b.DSN, b.Mapping, state, dash(b.Position), b.LagSeconds, b.RowsIn, b.RowsOut, len(b.Parked))
	if b.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", b.LastError)
	}
	if len(b.Parked) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARKED\tROW\tCOLUMN\tBINLOG\tPROBLEM\tFIX")
	for _, p := range b.Parked {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Side, p.Row, dash(p.Column), dash(p.Position), p.Problem, p.Fix)
	}
	tw.Flush()
}
