package main

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

func TestPrintStatusLinks(t *testing.T) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	printStatusLinks(tw, nil)
	tw.Flush()
	if b.Len() != 0 {
		t.Fatalf("no links printed %q", b.String())
	}
	printStatusLinks(tw, []replicator.StatusLinkStats{
		{Peer: "sfo", Pulls: 3, Received: 12, Merged: 10, Served: 7, BytesOut: 900, LastPull: time.Now()},
		{Peer: "lon", LastError: "peer answered 404 Not Found"},
	})
	tw.Flush()
	out := b.String()
	for _, want := range []string{"STATUS FROM", "sfo", "12", "900", "lon", "never", "404 Not Found"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in:\n%s", want, out)
		}
	}
}
