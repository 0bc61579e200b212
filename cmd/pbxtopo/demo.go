package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
	"github.com/pbxtopo/pbxtopo/internal/sipstub"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/spf13/cobra"
)

func (a *app) demoCmd() *cobra.Command {
	var cfg demo.Config
	var clusters string
	var mysqls []string
	cmd := &cobra.Command{
		Use:   "demo [--clusters tpa1,tpa2,sfo,lon,ams] [--nodes 1] [--mode ring|mesh|primary|site] [--dir DIR] [--port-base 17400] [--mysql CLUSTER=DSN --mysql-mapping pjsip]",
		Short: "Run the guide's sample enterprise on loopback: one agent process per node",
		Long: `Starts the sample enterprise as separate agent processes on 127.0.0.1, with certificates,
an encrypted gossip key and API tokens made for the occasion, the sample data imported into
the first cluster and replicated to the others. Prints each node's addresses and writes
DIR/demo.json once every agent is ready; Ctrl-C stops them all.

--mysql CLUSTER=DSN attaches a realtime database to a cluster (repeat for more): its agents
run the MySQL bridge on it with --mysql-mapping (pjsip for Asterisk's own realtime tables).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			cfg.Clusters = pbx.List(clusters)
			cfg.MySQL = map[string]string{}
			for _, m := range mysqls {
				c, dsn, ok := strings.Cut(m, "=")
				if !ok || c == "" || dsn == "" {
					return usageErrorf("--mysql %q: want CLUSTER=user:password@tcp(host:port)/database", m)
				}
				cfg.MySQL[c] = dsn
			}
			if cfg.Mode == "" {
				cfg.Mode = string(replicator.Mesh)
			}
			var err error
			if cfg.Binary, err = os.Executable(); err != nil {
				return err
			}
			if cfg.Dir == "" {
				if cfg.Dir, err = os.MkdirTemp("", "pbxtopo-demo-"); err != nil {
					return err
				}
			} else if entries, _ := os.ReadDir(cfg.Dir); len(entries) > 0 {
				return usageErrorf("--dir %s is not empty: give a new or empty directory", cfg.Dir)
			}
			cfg.Seed = true
			e, err := demo.Prepare(cfg)
			if err != nil {
				return userError{err}
			}
			if err := e.CheckPorts(); err != nil {
				return userError{err}
			}
			if err := e.Start(); err != nil {
				return err
			}
			defer e.Stop()
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			err = e.WaitReady(ctx)
			cancel()
			if err != nil {
				return err
			}
			if err := e.WriteJSON(); err != nil {
				return err
			}
			if err := e.WriteEnv(filepath.Dir(cfg.Binary)); err != nil {
				return err
			}
			a.printDemo(e, filepath.Dir(cfg.Binary), time.Since(start))
			<-cmd.Context().Done()
			fmt.Fprintln(a.stdout, "\nstopping the enterprise...")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&clusters, "clusters", "tpa1,tpa2,sfo,lon,ams", "clusters to start, comma-separated")
	f.IntVar(&cfg.Nodes, "nodes", 1, "agent processes per cluster")
	f.StringVar(&cfg.Mode, "mode", "mesh", "replication mode: ring, mesh, primary or site")
	f.StringVar(&cfg.Dir, "dir", "", "directory for data, certificates, configs and logs (default: a new temp dir)")
	f.IntVar(&cfg.PortBase, "port-base", 17400, "first port; node k uses port-base+10k .. +10k+6")
	f.BoolVar(&cfg.StandIns, "stand-ins", true, "give each cluster a stand-in Asterisk that answers SIP OPTIONS on its voice VIP, probed by every agent")
	f.StringArrayVar(&mysqls, "mysql", nil, "CLUSTER=DSN: run the MySQL realtime bridge of CLUSTER on DSN (repeatable)")
	f.StringVar(&cfg.MySQLMapping, "mysql-mapping", "", "the bridge's mapping: guide, pjsip or sippeers (default guide)")
	cmd.AddCommand(a.demoAsteriskCmd())
	return cmd
}

// demoAsteriskCmd is the demo's stand-in Asterisk: it answers SIP OPTIONS
// until stopped. The demo starts one per cluster; kill it to see the
// cluster leave the DNS answers while its agent runs.
func (a *app) demoAsteriskCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "asterisk --sip HOST:PORT",
		Short: "The demo's stand-in Asterisk: answers SIP OPTIONS on HOST:PORT until stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := sipstub.Listen(addr)
			if err != nil {
				return userError{fmt.Errorf("--sip %s: %w", addr, err)}
			}
			fmt.Fprintf(a.stdout, "stand-in Asterisk answering SIP OPTIONS on %s\n", r.Addr())
			select {
			case <-cmd.Context().Done():
			case <-r.Done():
			}
			return r.Close()
		},
	}
	cmd.Flags().StringVar(&addr, "sip", "127.0.0.1:5060", "UDP address to answer on")
	return cmd
}

func (a *app) printDemo(e *demo.Enterprise, binDir string, took time.Duration) {
	fmt.Fprintf(a.stdout, "pbxtopo demo: %d clusters in %s mode, ready in %s\n\n", len(e.Clusters), e.Mode, took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tSITE\tNODE\tPID\tAPI\tUI\tDNS\tREPLICATION")
	for _, c := range e.Clusters {
		for _, n := range c.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\thttp://%s/ui/\t%s\t%s\n", c.Cluster, c.Site, n.Name, n.PID, n.HTTP, n.HTTP, n.DNS, n.Repl)
		}
	}
	tw.Flush()
	standIn := ""
	if e.Clusters[0].Asterisk != nil {
		fmt.Fprintln(a.stdout, "\nstand-in Asterisks (voice VIPs; every agent probes them with SIP OPTIONS):")
		tw = tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER\tPID\tSIP")
		for _, c := range e.Clusters {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", c.Cluster, c.Asterisk.PID, c.Asterisk.SIP)
		}
		tw.Flush()
		last := e.Clusters[len(e.Clusters)-1]
		standIn = fmt.Sprintf("  kill %d   # %s's stand-in Asterisk: %s leaves the SRV answers within about a second\n", last.Asterisk.PID, last.Cluster, last.Cluster)
	}
	for _, c := range e.Clusters {
		if dsn := e.MySQL[c.Cluster]; dsn != "" {
			fmt.Fprintf(a.stdout, "MySQL realtime of %s: %s (pbxtopo repl status shows its bridge)\n", c.Cluster, dsn)
		}
	}
	first := e.Clusters[0].Nodes[0]
	host, port, _ := strings.Cut(first.DNS, ":")
	fmt.Fprintf(a.stdout, "\ntokens:  read %s\n         operator %s\n         admin %s\n", e.Tokens["read"], e.Tokens["operator"], e.Tokens["admin"])
	fmt.Fprintf(a.stdout, "\nTry, in another terminal (%s sets the same variables):\n", filepath.Join(e.Dir, demo.EnvFile))
	var exports []string
	for _, kv := range e.Env(binDir) {
		if kv[0] == "PATH" {
			exports = append(exports, "PATH="+shellWord(binDir)+`:"$PATH"`)
		} else {
			exports = append(exports, kv[0]+"="+shellWord(kv[1]))
		}
	}
	fmt.Fprintf(a.stdout, "  export %s\n", strings.Join(exports, " "))
	fmt.Fprintf(a.stdout, `  pbxtopo ext list --group USSales --sort name
  pbxtopo ext set tpa1/6109 mailbox=6109
  pbxtopo history extensions/tpa1/6109
  pbxtopo members
  pbxtopo repl status
  pbxtopo repl verify
  dig @%s -p %s _sip._udp.%s.voice.example.net SRV
%s  pbxtopo dundi lookup 6109@priv --peer %s --eid %s

The web pages: http://%s/ui/ (log in with a token above).
demo.json, configs, certificates and logs: %s
Ctrl-C stops every agent.
`, host, port, e.Clusters[0].Cluster, standIn, first.DUNDi, demo.LookupEID, first.HTTP, e.Dir)
}

// shellWord quotes s for a shell when it holds anything but plain
// characters.
func shellWord(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
