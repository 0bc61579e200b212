package main

import (
	"log/slog"
	"os"

	"github.com/pbxtopo/pbxtopo/internal/bench"
	"github.com/spf13/cobra"
)

func (a *app) benchCmd() *cobra.Command {
	var quick bool
	var dir string
	var scaleExtensions int
	cmd := &cobra.Command{
		Use:   "bench [SUITE...]",
		Short: "Measure performance: every figure with its anchor from the same run",
		Long: `Runs the performance suites and prints one row per figure, with the anchor the
figure is compared to (measured in the same run) and the ratio, then the machine and its load
around each suite. A measurement that cannot be made is a FAILED row with its reason, and the
command exits non-zero. -o json adds the machine (CPUs, kernel, Go version), each suite's
parameters and load, and each anchor's exact settings. Suites: store, repl, raft, roaming, dns,
api, ui, dundi, ami, mysql, ops, scale (a million extensions on two agent processes: several
minutes and a few GB of disk).`,
		Example: "  pbxtopo bench store\n  pbxtopo bench -o json",
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if dir == "" {
				dir = os.TempDir()
			}
			tmp, err := os.MkdirTemp(dir, "pbxtopo-bench-")
			if err != nil {
				return userError{err}
			}
			defer os.RemoveAll(tmp)
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			rep, err := bench.RunReport(cmd.Context(), args, bench.Env{Dir: tmp, Self: self, Quick: quick, Log: log, ScaleExtensions: scaleExtensions})
			if rep.Suites == nil && err != nil {
				return userError{err} // an unknown suite
			}
			if f, _ := a.format(); f == "json" {
				if jerr := printJSON(a.stdout, rep); jerr != nil {
					return jerr
				}
			} else {
				if perr := bench.PrintTable(a.stdout, rep.Results); perr != nil {
					return perr
				}
				bench.PrintMachine(a.stdout, rep)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&quick, "quick", false, "small sizes and short runs (a smoke test, not a measurement)")
	cmd.Flags().IntVar(&scaleExtensions, "scale-extensions", 0, "extensions in the scale suite (default a million; fewer to iterate quickly)")
	cmd.Flags().StringVar(&dir, "dir", "", "scratch directory on the disk to measure (default: the temp dir)")
	return cmd
}
