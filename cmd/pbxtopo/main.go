// Command pbxtopo is the topology, replication and roaming service for a
// multi-site Asterisk enterprise: the agent, its CLI, the demo, the chaos
// harness and the benchmarks in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pbxtopo/pbxtopo/service"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes (DESIGN.md): 0 success, 1 a user error, 2 an internal failure.
const (
	exitOK       = 0
	exitUser     = 1
	exitInternal = 2
)

// userError marks an error the user can fix (exit code 1).
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }
func (e userError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return userError{fmt.Errorf(format, args...)}
}

// app holds what every command shares: the settings and the outputs.
type app struct {
	v      *viper.Viper
	stdout io.Writer
	stderr io.Writer
	ctx    context.Context
}

// run executes one command line and returns the exit code. Tests call it
// in process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{v: viper.New(), stdout: stdout, stderr: stderr, ctx: ctx}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "pbxtopo:", strings.TrimPrefix(err.Error(), "pbxtopo: "))
	return exitCode(err)
}

func exitCode(err error) int {
	var ue userError
	var ae *service.Error
	switch {
	case errors.As(err, &ue):
		return exitUser
	case errors.As(err, &ae):
		if ae.Code < 500 {
			return exitUser
		}
		return exitInternal
	case errors.Is(err, context.Canceled):
		return exitUser
	}
	return exitInternal
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "pbxtopo",
		Short: "Topology, replication and roaming for multi-site Asterisk enterprises",
		Long: `pbxtopo keeps an Asterisk enterprise's configuration and status in a local store at
every cluster, replicates every change between clusters, audits roaming and security, and
answers the DNS SRV queries with which phones fail over.

Commands talk to a running agent (--addr, --token) or, with --data-dir, work offline on a
store that no agent holds.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.String("addr", "", "HTTP API address of a running agent (env PBXTOPO_ADDR)")
	pf.String("token", "", "API token (env PBXTOPO_TOKEN)")
	pf.String("data-dir", "", "work offline on the store in this directory (env PBXTOPO_DATA_DIR)")
	pf.String("replica", "", "the cluster a new offline store belongs to")
	pf.StringP("output", "o", "", "output format: table, json or csv (default: table on a terminal)")
	pf.Bool("show-secrets", false, "print secrets instead of ********")
	pf.Bool("fresh", false, "read through the cluster's leader: see every write the cluster acknowledged (default: this node's copy, stale by at most the Raft lag)")
	pf.String("ca", "", "CA certificate to trust for an https:// agent (env PBXTOPO_CA)")
	pf.String("cert", "", "client certificate for an agent that requires one (env PBXTOPO_CERT)")
	pf.String("key", "", "key of --cert (env PBXTOPO_KEY)")
	a.v.SetEnvPrefix("PBXTOPO")
	a.v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	a.v.AutomaticEnv()
	a.v.BindPFlags(pf)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return userError{fmt.Errorf("%w (see 'pbxtopo %s --help')", err, c.Name())}
	})
	root.AddCommand(a.extCmd(), a.importCmd(), a.exportCmd(), a.historyCmd(), a.revertCmd(), a.benchCmd(),
		a.roamingCmd(), a.auditCmd(), a.dundiCmd(), a.dnsCmd(),
		a.statusCmd(), a.amiCmd())
	root.AddCommand(a.backupCmd(), a.restoreCmd(), a.storeCmd())
	root.AddCommand(a.agentCmd(), a.membersCmd(), a.replCmd(), a.conflictsCmd(), a.tlsCmd(), a.gossipCmd(), a.tokenCmd(), a.demoCmd(), a.chaosCmd(), a.raftCmd(), a.secretsCmd(), a.hoursCmd())
	userArgErrors(root)
	return root
}

// userArgErrors makes every command's argument check a user error (exit
// 1, DESIGN.md), with a pointer to the command's help.
func userArgErrors(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				var ue userError
				if errors.As(err, &ue) {
					return err
				}
				return userError{fmt.Errorf("%w (see 'pbxtopo %s --help')", err, strings.TrimPrefix(cmd.CommandPath(), "pbxtopo "))}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		userArgErrors(sub)
	}
}
