package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
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
	var mode, faults, dir, ops string
	var runs, nodes, parallel, numbers int
	var wall time.Duration
	var live bool
	run := &cobra.Command{
		Use:   "run [--live] [--clusters N] [--mode M] [--seed S] [--runs N] [--duration D] [--faults partition,crash,...]",
		Short: "Run campaigns: random workload and faults, then checks (simulated network, or --live production code)",
		Long: `Each campaign runs an enterprise of replicas in one process over a simulated network
and clock: a random workload (the same records written at several clusters at once) and a
random schedule of faults (` + strings.Join(chaos.FaultKinds, ", ") + `), all drawn from the
seed; then a final heal and a quiet period, then the checkers: nothing acknowledged lost,
every replica the same within the liveness bound, a conflict if and only if writes were
concurrent, with the same winner everywhere, no deleted record back, no duplicate with a
second effect. The same seed replays the same run. A failed run keeps its data dirs and its
history and prints where.

--live runs the production code instead, in real time: per cluster --nodes Raft nodes, each
with its own store, the agent's write path (ext set, PUT, delete, batch, move, revert,
conflict resolution, topology changes), and the replicator's own loop on each leader, over
in-memory networks the campaign cuts, slows, drops and replays (faults: ` + strings.Join(chaos.LiveFaults, ", ") + `),
with restarts over a Raft snapshot. Operations: ` + strings.Join(chaos.LiveOps, ", ") + `.
The checker proves, per acknowledged field written: present at the end, or replaced by a
write whose client had read it, or part of a recorded conflict; and per node, that polled
versions never go back. Live runs are seeded but not replayable (Raft timers, real time).

--mode all rotates through the modes; --runs N runs seeds S..S+N-1; --wall D keeps starting
campaigns until D of real time has passed (for long random campaigns); with both, the first
limit reached ends it; --parallel P runs P campaigns at once.`,
		Example: `  pbxtopo chaos run --clusters 5 --mode ring --seed 7
  pbxtopo chaos run --mode all --runs 40 --duration 60s
  pbxtopo chaos run --mode all --wall 30m --seed $RANDOM
  pbxtopo chaos run --live --mode all --runs 1000 --parallel 4
  pbxtopo chaos run --live --ops probe-concurrent,probe-leader-follower,resolve --faults none --duration 90s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			modes := []replicator.Mode{replicator.Mode(mode)}
			if mode == "all" {
				modes = replicator.Modes
			}
			flags := cmd.Flags()
			if live {
				// The live mode's own defaults, unless given.
				if !flags.Changed("clusters") {
					cfg.Clusters = 3
				}
				if !flags.Changed("duration") {
					cfg.Duration = 4 * time.Second
				}
				if !flags.Changed("rate") {
					cfg.Rate = 40
				}
			} else if ops != "" || flags.Changed("nodes") {
				return userError{fmt.Errorf("--ops and --nodes are for --live runs")}
			}
			cfg.Faults = pbx.List(faults)
			one := func(i int) (*chaos.Report, error) {
				seed, m := cfg.Seed+int64(i), modes[i%len(modes)]
				d := ""
				if dir != "" {
					d = fmt.Sprintf("%s/%s-%d", dir, m, seed)
				}
				if live {
					return chaos.RunLive(chaos.LiveConfig{Seed: seed, Clusters: cfg.Clusters, Nodes: nodes, Mode: m, Duration: cfg.Duration,
						Rate: cfg.Rate, Numbers: numbers, Ops: pbx.List(ops), Faults: cfg.Faults, ConvergeBound: cfg.ConvergeBound, Dir: d})
				}
				c := cfg
				c.Seed, c.Mode, c.Dir = seed, m, d
				return chaos.Run(c)
			}
			if parallel < 1 {
				parallel = 1
			}
			var reports []*chaos.Report
			var mu sync.Mutex
			var firstErr error
			// --runs and --wall are both limits: the first reached ends the
			// campaign (--wall alone lifts the default of one run).
			limit := runs
			if wall > 0 && !cmd.Flags().Changed("runs") {
				limit = math.MaxInt
			}
			start := time.Now()
			failed, next := 0, 0
			var wg sync.WaitGroup
			for w := 0; w < parallel; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						mu.Lock()
						i := next
						more := i == 0 || i < limit && (wall == 0 || time.Since(start) < wall)
						if !more || firstErr != nil || cmd.Context().Err() != nil {
							mu.Unlock()
							return
						}
						next++
						mu.Unlock()
						rep, err := one(i)
						mu.Lock()
						if err != nil {
							firstErr = err
						} else {
							reports = append(reports, rep)
							if !rep.OK() {
								failed++
							}
							if runs > 1 || wall > 0 {
								fmt.Fprintf(a.stderr, "%s run %d: seed %d %s %s: ok=%v, %d failed so far\n", time.Since(start).Round(time.Second),
									len(reports), rep.Seed, rep.Kind, rep.Mode, rep.OK(), failed)
							}
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if firstErr != nil {
				return userError{firstErr}
			}
			sort.Slice(reports, func(i, j int) bool { return reports[i].Seed < reports[j].Seed })
			if f, _ := a.format(); f == "json" {
				printJSON(a.stdout, reports)
			} else {
				chaos.PrintReports(a.stdout, reports)
				ops := 0
				for _, r := range reports {
					ops += r.Operations
				}
				kind := "simulated runs replay exactly from their seed"
				if live {
					kind = "live runs are seeded, not replayable"
				}
				fmt.Fprintf(a.stdout, "%d runs, %d operations, %d failed, in %s (%s)\n",
					len(reports), ops, failed, time.Since(start).Round(time.Millisecond), kind)
			}
			if failed > 0 {
				return userError{fmt.Errorf("%d of %d runs broke a guarantee; their data dirs and history are kept (see above)", failed, len(reports))}
			}
			return nil
		},
	}
	f := run.Flags()
	f.BoolVar(&live, "live", false, "run the production code (Raft, the service, the replicator's loop) in real time")
	f.IntVar(&cfg.Clusters, "clusters", 5, "replicas (2 to 10; --live: 2 to 5, default 3)")
	f.IntVar(&nodes, "nodes", 3, "--live: Raft nodes per cluster (1 to 5)")
	f.StringVar(&ops, "ops", "", "--live: operations to draw from (default all): "+strings.Join(chaos.LiveOps, ","))
	f.IntVar(&numbers, "numbers", 4, "--live: extension numbers the workload starts with")
	f.IntVar(&parallel, "parallel", 1, "campaigns run at once")
	f.StringVar(&mode, "mode", "mesh", "ring, mesh, primary, site, or all")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the first run")
	f.IntVar(&runs, "runs", 1, "number of runs (seeds seed..seed+runs-1)")
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "simulated time of the fault phase of each run (--live: real time, default 4s)")
	f.DurationVar(&wall, "wall", 0, "keep running campaigns for this much real time")
	f.IntVar(&cfg.Rate, "rate", 20, "client writes per simulated second (--live: operations per second, default 40)")
	f.IntVar(&cfg.Keys, "keys", 12, "records the workload writes (few: replicas collide)")
	f.DurationVar(&cfg.ConvergeBound, "converge-within", 30*time.Second, "liveness bound after the final heal (simulated; --live: real)")
	f.StringVar(&faults, "faults", "", "faults to inject (default all): "+strings.Join(chaos.FaultKinds, ",")+"; --live: "+strings.Join(chaos.LiveFaults, ",")+" or none")
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
