package main

import (
	"fmt"
	"io"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

// printStatusLinks adds the status replication links to `repl status`:
// live status pulled from each source, coalesced (README "Status
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
