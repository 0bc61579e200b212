package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/service"
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
			return a.print(result{JSON: map[string]string{"dir": caDir, "ca": filepath.Join(caDir, pki.CAFile)},
				Table: func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "CA made in %s: give every agent %s/ca.crt as tls.ca; keep ca.key safe\n", caDir, caDir)
					return err
				}})
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
			return a.print(result{JSON: map[string]string{"cluster": req.Cluster, "node": req.Node, "cert": c, "key": k},
				Table: func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "certificate for %s@%s: tls.cert %s, tls.key %s\n", req.Node, req.Cluster, c, k)
					return err
				}})
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
			key := base64.StdEncoding.EncodeToString(k)
			return a.print(result{JSON: map[string]string{"key": key}, Table: func(w io.Writer) error {
				_, err := fmt.Fprintln(w, key)
				return err
			}})
		},
	})
	keys := &cobra.Command{
		Use:   "keys [list | install KEY | use KEY | remove KEY]",
		Short: "Rotate the gossip key across the enterprise (see docs/security.md)",
		Args:  cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !slices.Contains([]string{"list", "install", "use", "remove"}, args[0]) {
				return unknownWord("gossip keys", args[0], []string{"list", "install", "use", "remove"})
			}
			g, done, err := backendAs[service.GossipAPI](a, true)
			if err != nil {
				return err
			}
			defer done()
			if len(args) == 0 || args[0] == "list" {
				ks, err := g.GossipKeys(cmd.Context())
				if err != nil {
					return err
				}
				keys := slices.Sorted(maps.Keys(ks))
				return a.print(result{JSON: ks, Table: func(w io.Writer) error {
					for _, k := range keys {
						fmt.Fprintf(w, "%s  held by %d members\n", k, ks[k])
					}
					return nil
				}})
			}
			if len(args) != 2 {
				return usageErrorf("give the key: pbxtopo gossip keys %s KEY", args[0])
			}
			if err := g.GossipKeyOp(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			return a.print(result{JSON: map[string]string{"op": args[0], "result": "done on every member"}, Table: func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "gossip key %s: done on every member\n", args[0])
				return err
			}})
		},
	}
	g.AddCommand(keys)
	return g
}

func (a *app) tokenCmd() *cobra.Command {
	t := &cobra.Command{Use: "token", Short: "API tokens"}
	var file string
	newCmd := &cobra.Command{
		Use:   "new ROLE NAME [--file FILE]",
		Short: "Make a token: its hash goes to the tokens file, the token is shown once",
		Long: `new makes a random token for NAME with ROLE (read, operator or admin). The tokens file
keeps only its SHA-256 hash ("ROLE NAME sha256:..."), so the token is shown here once and
nowhere else: give it to its holder. With --file the line is appended to the file (created
0600); without, the line goes to standard output and the token to standard error.`,
		Example: "  pbxtopo token new read noc --file /etc/pbxtopo/tokens\n  pbxtopo token new read noc >> /etc/pbxtopo/tokens",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := service.ParseRole(args[0])
			if err != nil {
				return userError{err}
			}
			tok := httpapi.NewToken()
			line := httpapi.TokenLine(role, args[1], tok)
			if file != "" {
				if err := appendLine(file, line); err != nil {
					return userError{fmt.Errorf("tokens file %s: %w", file, err)}
				}
			}
			return a.print(result{JSON: map[string]string{"role": role.String(), "name": args[1], "token": tok, "line": line, "file": file},
				Table: func(w io.Writer) error {
					if file == "" {
						fmt.Fprintln(w, line)
						fmt.Fprintf(a.stderr, "token of %s (%s), shown once; the line above holds only its hash:\n%s\n", args[1], role, tok)
						return nil
					}
					_, err := fmt.Fprintf(w, "token of %s (%s), shown once (%s keeps only its hash; SIGHUP the agent to load it):\n%s\n", args[1], role, file, tok)
					return err
				}})
		},
	}
	newCmd.Flags().StringVar(&file, "file", "", "append the line to this tokens file")
	hashCmd := &cobra.Command{
		Use:   "hash FILE",
		Short: "Replace the tokens a tokens file keeps in clear by their hashes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := hashTokensFile(args[0])
			if err != nil {
				return userError{err}
			}
			return a.print(result{JSON: map[string]any{"file": args[0], "hashed": n}, Table: func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s: %d tokens were in clear and are now hashed; SIGHUP the agent to reload it\n", args[0], n)
				return err
			}})
		},
	}
	t.AddCommand(newCmd, hashCmd)
	return t
}

// appendLine appends a line to a file, creating it readable by its owner only.
func appendLine(path, line string) error {
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(fh, line); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// hashTokensFile rewrites the clear tokens of a tokens file as hashes,
// keeping every other line as it is; the file is checked first and
// replaced whole.
func hashTokensFile(path string) (int, error) {
	if _, err := httpapi.ParseTokens(path); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.SplitAfter(string(data), "\n")
	n := 0
	for i, l := range lines {
		body, comment, _ := strings.Cut(l, "#")
		f := strings.Fields(body)
		if len(f) != 3 || strings.HasPrefix(f[2], "sha256:") {
			continue
		}
		role, err := service.ParseRole(f[0])
		if err != nil {
			return 0, err
		}
		nl := ""
		if strings.HasSuffix(l, "\n") {
			nl = "\n"
		}
		lines[i] = httpapi.TokenLine(role, f[1], f[2])
		if comment != "" {
			lines[i] += " #" + strings.TrimRight(comment, "\n")
		}
		lines[i] += nl
		n++
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "")), 0o600); err != nil {
		return 0, err
	}
	return n, os.Rename(tmp, path)
}
