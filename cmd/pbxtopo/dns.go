package main

import (
	"fmt"

	"github.com/pbxtopo/pbxtopo/service"
	"github.com/spf13/cobra"
)

func (a *app) dnsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "The DNS zone with which phones find their cluster and fail over",
	}
	var domain string
	zone := &cobra.Command{
		Use:   "zone",
		Short: "Print the zone as the DNS server would transfer it",
		Long: `Prints the voice zone in master file format, as an AXFR would deliver it (NSD and
BIND load it as it is). Against a running agent (--addr) it is the zone its DNS server
serves now, with live health; offline (--data-dir) it is built from the store with
every cluster up. -o json adds the serial, the clusters down and those left out.`,
		Example: "  pbxtopo dns zone --data-dir ./tpa1\n  pbxtopo dns zone --addr 127.0.0.1:7480 -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.format()
			if err != nil {
				return err
			}
			if f == "csv" {
				return usageErrorf("dns zone prints a zone file or JSON: use -o table or -o json")
			}
			zapi, release, err := backendAs[service.ZoneAPI](a, false)
			if err != nil {
				return err
			}
			defer release()
			v, err := zapi.Zone(cmd.Context(), domain)
			if err != nil {
				return err
			}
			if f == "json" {
				return printJSON(a.stdout, v)
			}
			how := "built offline with every cluster up"
			if v.Live {
				how = "served now by the agent"
			}
			fmt.Fprintf(a.stdout, "; %s serial %d, %s\n", v.Domain, v.Serial, how)
			if len(v.Down) > 0 {
				fmt.Fprintf(a.stdout, "; down (left out of the SRV answers): %v\n", v.Down)
			}
			for _, p := range v.Skipped {
				fmt.Fprintf(a.stdout, "; cluster %s left out: %s\n", p.Cluster, p.Reason)
			}
			_, err = fmt.Fprint(a.stdout, v.Text)
			return err
		},
	}
	zone.Flags().StringVar(&domain, "domain", "", "the voice zone (default: the agent's dns.domain; offline voice.example.net)")
	cmd.AddCommand(zone)
	return cmd
}
