package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/spf13/cobra"
)

func (a *app) tlsCmd() *cobra.Command {
	t := &cobra.Command{Use: "tls", Short: "Make the enterprise CA and node certificates (mutual TLS between agents)"}
	var caDir, name string
	var days int
	ca := &cobra.Command{Use: "ca", Short: "The enterprise certificate authority"}
	caCreate := &cobra.Command{
		Use:   "create [--dir DIR]",
		Short: "Make the CA (ca.crt, ca.key); keep ca.key with the admin, not on every agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pki.CreateCA(caDir, name, time.Duration(days)*24*time.Hour); err != nil {
				return userError{err}
			}
			fmt.Fprintf(a.stdout, "CA made in %s: give every agent %s/ca.crt as tls.ca; keep ca.key safe\n", caDir, caDir)
			return nil
		},
	}
	caCreate.Flags().StringVar(&caDir, "dir", "pki", "directory of the CA")
	caCreate.Flags().StringVar(&name, "name", "pbxtopo enterprise CA", "name of the CA")
	caCreate.Flags().IntVar(&days, "days", 3650, "validity in days")
	ca.AddCommand(caCreate)

	var req pki.CertRequest
	var out, signDir string
	var certDays int
	cert := &cobra.Command{Use: "cert", Short: "Node certificates"}
	certCreate := &cobra.Command{
		Use:   "create --cluster C --node N [--host H]...",
		Short: "Make a node's certificate, naming its cluster and node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Validity = time.Duration(certDays) * 24 * time.Hour
			if out == "" {
				out = signDir
			}
			c, k, err := pki.CreateCert(signDir, out, req)
			if err != nil {
				return userError{err}
			}
			fmt.Fprintf(a.stdout, "certificate for %s@%s: tls.cert %s, tls.key %s\n", req.Node, req.Cluster, c, k)
			return nil
		},
	}
	certCreate.Flags().StringVar(&req.Cluster, "cluster", "", "the node's cluster")
	certCreate.Flags().StringVar(&req.Node, "node", "", "the node's name")
	certCreate.Flags().StringSliceVar(&req.Hosts, "host", nil, "host names and addresses the node is reached at")
	certCreate.Flags().StringVar(&signDir, "ca-dir", "pki", "directory of the CA")
	certCreate.Flags().StringVar(&out, "out", "", "where to write NODE.crt and NODE.key (default: --ca-dir)")
	certCreate.Flags().IntVar(&certDays, "days", 825, "validity in days")
	cert.AddCommand(certCreate)
	t.AddCommand(ca, cert)
	return t
}

func (a *app) gossipCmd() *cobra.Command {
	g := &cobra.Command{Use: "gossip", Short: "The gossip encryption key"}
	g.AddCommand(&cobra.Command{
		Use:   "keygen",
		Short: "Print a new random gossip key (gossip.key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := make([]byte, 32)
			if _, err := rand.Read(k); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, base64.StdEncoding.EncodeToString(k))
			return nil
		},
	})
	keys := &cobra.Command{
		Use:   "keys [list | install KEY | use KEY | remove KEY]",
		Short: "Rotate the gossip key across the enterprise (see the README)",
		Args:  cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, done, err := backendAs[agent.GossipAPI](a, true)
			if err != nil {
				return err
			}
			defer done()
			if len(args) == 0 || args[0] == "list" {
				ks, err := g.GossipKeys(cmd.Context())
				if err != nil {
					return err
				}
				if f, _ := a.format(); f == "json" {
					return printJSON(a.stdout, ks)
				}
				for k, n := range ks {
					fmt.Fprintf(a.stdout, "%s  held by %d members\n", k, n)
				}
				return nil
			}
			if len(args) != 2 {
				return usageErrorf("give the key: pbxtopo gossip keys %s KEY", args[0])
			}
			if err := g.GossipKeyOp(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "gossip key %s: done on every member\n", args[0])
			return nil
		},
	}
	g.AddCommand(keys)
	return g
}

func (a *app) tokenCmd() *cobra.Command {
	t := &cobra.Command{Use: "token", Short: "API tokens"}
	t.AddCommand(&cobra.Command{
		Use:     "new ROLE NAME",
		Short:   "Print a tokens-file line with a new random token",
		Example: "  pbxtopo token new read noc >> /etc/pbxtopo/tokens",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := agent.ParseRole(args[0])
			if err != nil {
				return userError{err}
			}
			fmt.Fprintf(a.stdout, "%s %s %s\n", role, args[1], agent.NewToken())
			return nil
		},
	})
	return t
}
