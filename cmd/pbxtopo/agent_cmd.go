package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

func (a *app) agentCmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "agent --config FILE",
		Short: "Run the pbxtopo agent: the service beside each Asterisk server",
		Long: `Runs one node: the store, replication with the other clusters, membership, and the
HTTP API. Every config key is also a flag (--replication.mode ring) and an environment
variable (PBXTOPO_REPLICATION_MODE=ring). SIGTERM or SIGINT stop it cleanly; SIGHUP reloads
what can change at run time (the tokens file).`,
		Example: "  pbxtopo agent --config /etc/pbxtopo/pbxtopo.yaml",
		Args:    cobra.NoArgs,
	}
	v := viper.New()
	cmd.Flags().StringVar(&configFile, "config", "", "the YAML config file")
	for _, k := range agent.ConfigKeys() {
		cmd.Flags().String(k, "", "config key "+k)
		v.BindPFlag(k, cmd.Flags().Lookup(k))
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		load := func() (agent.Config, error) {
			v := v
			if configFile != "" {
				v.SetConfigFile(configFile)
				if err := v.ReadInConfig(); err != nil {
					return agent.Config{}, userError{fmt.Errorf("config %s: %w", configFile, err)}
				}
			}
			cfg, err := agent.LoadConfig(v)
			if err != nil {
				return cfg, userError{err}
			}
			return cfg, nil
		}
		agent.Defaults(v)
		v.SetEnvPrefix("PBXTOPO")
		v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
		v.AutomaticEnv()
		cfg, err := load()
		if err != nil {
			return err
		}
		log, level := newLogger(a.stderr, cfg.Log.Level, cfg.Log.Format)
		agent.SetMemoryLimit(cfg.MemoryLimitMB)
		ag, err := agent.New(cfg, log, agent.Options{Level: level, WebPages: true})
		if err != nil {
			return err
		}
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for range hup {
				next, err := load()
				if err == nil {
					err = ag.Reload(cmd.Context(), next)
				}
				if err != nil {
					log.Error("reload refused; the running configuration stays", "err", err)
				}
			}
		}()
		return ag.Run(cmd.Context())
	}
	return cmd
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err == nil {
		lv.Set(l)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), lv
	}
	return slog.New(slog.NewTextHandler(w, opts)), lv
}
