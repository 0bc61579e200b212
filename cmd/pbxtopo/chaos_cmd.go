package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/chaos"
	"github.com/pbxtopo/pbxtopo/chaos/netns"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/spf13/cobra"
)

func (a *app) chaosCmd() *cobra.Command {
	c := &cobra.Command{Use: "chaos", Short: "Prove replication under partitions, crashes, pauses and clock skew"}
	var cfg chaos.Config
	var mode, faults, dir string
	var runs int
	var wall time.Duration
	run := &cobra.Command{
		Use:   "run [--clusters N] [--mode M] [--seed S] [--runs N] [--duration D] [--faults partition,crash,...]",
		Short: "Run campaigns on a simulated network: random workload and faults, then checks",
		Long: `Each campaign runs an enterprise of replicas in one process over a simulated network
and clock: a random workload (the same records written at several clusters at once) and a
random schedule of faults (` + strings.Join(chaos.FaultKinds, ", ") + `), all drawn from the
seed; then a final heal and a quiet period, then the checkers: nothing acknowledged lost,
every replica the same within the liveness bound, a conflict if and only if writes were
concurrent, with the same winner everywhere, no deleted record back, no duplicate with a
second effect. The same seed replays the same run. A failed run keeps its data dirs and its
history and prints where.

--mode all rotates through the modes; --runs N runs seeds S..S+N-1; --wall D keeps starting
campaigns until D of real time has passed (for long random campaigns).`,
		Example: `  pbxtopo chaos run --clusters 5 --mode ring --seed 7
  pbxtopo chaos run --mode all --runs 40 --duration 60s
  pbxtopo chaos run --mode all --wall 30m --seed $RANDOM`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			modes := []replicator.Mode{replicator.Mode(mode)}
			if mode == "all" {
				modes = replicator.Modes
			}
			cfg.Faults = pbx.List(faults)
			var reports []*chaos.Report
			start := time.Now()
			failed := 0
			for i := 0; i < runs || wall > 0 && time.Since(start) < wall; i++ {
				if cmd.Context().Err() != nil {
					break
				}
				c := cfg
				c.Seed = cfg.Seed + int64(i)
				c.Mode = modes[i%len(modes)]
				if dir != "" {
					c.Dir = fmt.Sprintf("%s/%s-%d", dir, c.Mode, c.Seed)
				}
				rep, err := chaos.Run(c)
				if err != nil {
					return userError{err}
				}
				reports = append(reports, rep)
				if !rep.OK() {
					failed++
				}
				if wall > 0 && runs == 0 {
					runs = i + 2 // keep going until the wall clock says stop
				}
			}
			if f, _ := a.format(); f == "json" {
				printJSON(a.stdout, reports)
			} else {
				chaos.PrintReports(a.stdout, reports)
				ops := 0
				for _, r := range reports {
					ops += r.Operations
				}
				fmt.Fprintf(a.stdout, "%d runs, %d operations, %d failed, in %s (simulated runs replay exactly from their seed)\n",
					len(reports), ops, failed, time.Since(start).Round(time.Millisecond))
			}
			if failed > 0 {
				return userError{fmt.Errorf("%d of %d runs broke a guarantee; their data dirs and history are kept (see above)", failed, len(reports))}
			}
			return nil
		},
	}
	f := run.Flags()
	f.IntVar(&cfg.Clusters, "clusters", 5, "replicas (2 to 10)")
	f.StringVar(&mode, "mode", "mesh", "ring, mesh, primary, site, or all")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the first run")
	f.IntVar(&runs, "runs", 1, "number of runs (seeds seed..seed+runs-1)")
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "simulated time of the fault phase of each run")
	f.DurationVar(&wall, "wall", 0, "keep running campaigns for this much real time")
	f.IntVar(&cfg.Rate, "rate", 20, "client writes per simulated second")
	f.IntVar(&cfg.Keys, "keys", 12, "records the workload writes (few: replicas collide)")
	f.DurationVar(&cfg.ConvergeBound, "converge-within", 30*time.Second, "liveness bound after the final heal (simulated)")
	f.StringVar(&faults, "faults", "", "faults to inject (default all): "+strings.Join(chaos.FaultKinds, ","))
	f.StringVar(&dir, "dir", "", "where runs keep their data (default: temp dirs, removed when a run passes)")
	c.AddCommand(run)
	c.AddCommand(a.chaosNetCmd())
	return c
}

func (a *app) chaosNetCmd() *cobra.Command {
	var cfg netns.Config
	var inner bool
	cmd := &cobra.Command{
		Use:   "net [--clusters N] [--mode M] [--duration D]",
		Short: "Chaos against real agent processes in network namespaces (root only)",
		Long: `Starts one agent process per cluster, each in its own network namespace joined by a
bridge, writes through the API while injecting faults: partitions with iptables, delay and
loss with tc netem (when the kernel has it), kill -9 and SIGSTOP/SIGCONT. Then heals, waits
for 'repl verify' to report every replica the same, and checks that every acknowledged write
is at every cluster. Needs root, ip and iptables; without them it says so and skips.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Out = a.stdout
			if err := netns.Available(); err != nil {
				fmt.Fprintln(a.stdout, "chaos net skipped:", err)
				return nil
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Binary = self
			if cfg.Dir == "" {
				if cfg.Dir, err = os.MkdirTemp("", "pbxtopo-chaos-net-"); err != nil {
					return err
				}
			}
			if inner {
				rep, err := netns.Inner(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "writes %d, acknowledged %d, failed %d, faults %v, lost %d, converged %v in %s\n",
					rep.Writes, rep.Acked, rep.Failed, rep.Faults, rep.Lost, rep.Converged, rep.ConvergeTime.Round(time.Millisecond))
				for _, p := range rep.Problems {
					fmt.Fprintln(a.stdout, "problem:", p)
				}
				if len(rep.Problems) > 0 {
					return userError{fmt.Errorf("chaos net found problems; agent logs are in %s", cfg.Dir)}
				}
				return nil
			}
			if cfg.ID == 0 {
				cfg.ID = 1 + os.Getpid()%250
			}
			if err := netns.Setup(cfg); err != nil {
				return err
			}
			defer netns.Teardown(cfg)
			c := exec.CommandContext(cmd.Context(), "ip", "netns", "exec", fmt.Sprintf("ptc%d-hub", cfg.ID), self, "chaos", "net", "--inner",
				"--id", fmt.Sprint(cfg.ID), "--clusters", fmt.Sprint(cfg.Clusters), "--mode", cfg.Mode,
				"--duration", cfg.Duration.String(), "--seed", fmt.Sprint(cfg.Seed), "--dir", cfg.Dir)
			c.Stdout, c.Stderr = a.stdout, a.stderr
			if err := c.Run(); err != nil {
				return userError{fmt.Errorf("chaos net: %v", err)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Clusters, "clusters", 3, "clusters (one namespace each)")
	f.StringVar(&cfg.Mode, "mode", "ring", "replication mode")
	f.DurationVar(&cfg.Duration, "duration", 40*time.Second, "how long to write and inject faults")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the fault schedule")
	f.StringVar(&cfg.Dir, "dir", "", "where the agents keep data and logs")
	f.IntVar(&cfg.ID, "id", 0, "namespace and subnet id (1-250; default from the pid)")
	f.BoolVar(&inner, "inner", false, "internal: the part that runs inside the hub namespace")
	f.MarkHidden("inner")
	return cmd
}
