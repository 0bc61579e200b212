package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/spf13/cobra"
)

// The ami.* settings: flags of the ami commands, PBXTOPO_AMI_* in the
// environment, and the same keys in the agent's configuration file. Their
// defaults and their decoding are the agent's (agent.AMIConfig).
var amiFlags = func() []struct{ key, flag, def, usage string } {
	d := agent.DefaultAMIConfig()
	return []struct{ key, flag, def, usage string }{
		{"ami.addr", "ami-addr", d.Addr, "Asterisk manager interface host:port (env PBXTOPO_AMI_ADDR)"},
		{"ami.user", "ami-user", d.User, "manager.conf user (env PBXTOPO_AMI_USER)"},
		{"ami.secret", "ami-secret", "", "its secret; prefer env PBXTOPO_AMI_SECRET, flags show in ps"},
		{"ami.config_dir", "dir", d.ConfigDir, "Asterisk's configuration directory (env PBXTOPO_AMI_CONFIG_DIR)"},
		{"ami.log_file", "log-file", d.LogFile, "the Asterisk log file with notices and warnings (env PBXTOPO_AMI_LOG_FILE)"},
		{"ami.backup_dir", "backup-dir", d.BackupDir, "where previous versions are kept (default DIR/.pbxtopo-backup)"},
		{"ami.refresh", "refresh", d.Refresh.String(), "full refresh interval (ami.refresh)"},
		{"ami.flush", "flush", d.Flush.String(), "coalescing interval: status is written at most this often (ami.flush)"},
		{"ami.vip", "vip", d.VIP, `voice VIP host:port to probe (default: the cluster's voice_vip; "off" disables)`},
		{"ami.cfwd_family", "cfwd-family", d.CfwdFamily, `AstDB family of call forward targets ("" skips)`},
	}
}()

// amiSettings decodes the ami.* settings over the agent's defaults.
func (a *app) amiSettings() (agent.AMIConfig, error) {
	c := agent.DefaultAMIConfig()
	for key, dst := range map[string]*string{"ami.addr": &c.Addr, "ami.user": &c.User, "ami.vip": &c.VIP,
		"ami.cfwd_family": &c.CfwdFamily, "ami.config_dir": &c.ConfigDir, "ami.log_file": &c.LogFile, "ami.backup_dir": &c.BackupDir} {
		if v := a.v.GetString(key); a.v.IsSet(key) && (v != "" || key == "ami.cfwd_family") { // "" skips call forwards
			*dst = v
		}
	}
	for key, dst := range map[string]*time.Duration{"ami.refresh": &c.Refresh, "ami.flush": &c.Flush} {
		if v := a.v.GetString(key); a.v.IsSet(key) && v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return c, usageErrorf("%s = %q: want a duration such as 5m or 5s", key, v)
			}
			*dst = d
		}
	}
	var err error
	c.Secret, err = a.configSecret("ami.secret")
	return c, err
}

// amiCollectorConfig is the collector's settings (ami.*) for a node of a
// cluster, decoded as the agent decodes them.
func (a *app) amiCollectorConfig(cluster, node string) (ami.Config, ami.ClientConfig, error) {
	c, err := a.amiSettings()
	if err != nil {
		return ami.Config{}, ami.ClientConfig{}, err
	}
	cfg, cc, err := c.Collector(cluster, node)
	if err != nil {
		return cfg, cc, userError{err}
	}
	return cfg, cc, nil
}

// bindAMIFlags adds the flags of the given ami.* keys to cmd. They are
// bound to the keys when cmd runs: several commands have the same flag,
// and viper keeps one binding per key.
func (a *app) bindAMIFlags(cmd *cobra.Command, keys ...string) {
	for _, f := range amiFlags {
		for _, k := range keys {
			if k == f.key {
				cmd.Flags().String(f.flag, f.def, f.usage)
			}
		}
	}
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		for _, f := range amiFlags {
			if fl := cmd.Flags().Lookup(f.flag); fl != nil {
				a.v.BindPFlag(f.key, fl)
			}
		}
		return nil
	}
}

func (a *app) amiCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ami",
		Short: "The local Asterisk's manager interface: apply generated config, back out, check access, collect status",
		Long: `Commands that talk to the Asterisk beside this node through its manager interface
(ami.addr, ami.user, ami.secret; PBXTOPO_AMI_* in the environment). See docs/operator-guide.md,
"Pointing the agent at a real Asterisk", for the manager.conf user they need.`,
	}
	cmd.AddCommand(a.amiApplyCmd(), a.amiBackoutCmd(), a.amiBackupsCmd(), a.amiCheckCmd(), a.amiCollectCmd())
	return cmd
}

// dialAMI logs in to the local Asterisk without events.
func (a *app) dialAMI(ctx context.Context) (*ami.Conn, error) {
	s, err := a.amiSettings()
	if err != nil {
		return nil, err
	}
	cfg := ami.DialConfig{Addr: s.Addr, User: s.User, Secret: s.Secret, Events: "off", Timeout: 10 * time.Second}
	if cfg.User == "" {
		return nil, usageErrorf("no AMI user: set --ami-user or PBXTOPO_AMI_USER (a [user] of Asterisk's manager.conf)")
	}
	c, err := ami.Dial(ctx, cfg, nil)
	if errors.Is(err, ami.ErrAuth) {
		return nil, userError{err}
	}
	if err != nil {
		return nil, fmt.Errorf("%w (is Asterisk running, and ami.addr its manager port?)", err)
	}
	return c, nil
}

// applyOptions are the flags of every command that applies config.
type applyOptions struct {
	keepOnFailure bool
	force         bool
	settle        time.Duration
}

// addApplyFlags adds the apply flags to cmd: "pbxtopo dundi apply" uses
// them too.
func (a *app) addApplyFlags(cmd *cobra.Command, o *applyOptions) {
	a.bindAMIFlags(cmd, "ami.addr", "ami.user", "ami.secret", "ami.config_dir", "ami.log_file", "ami.backup_dir")
	cmd.Flags().BoolVar(&o.keepOnFailure, "keep-on-failure", false, "leave the new files in place when the reload fails (default: back out)")
	cmd.Flags().BoolVar(&o.force, "force", false, "reload even when no file changed")
	cmd.Flags().DurationVar(&o.settle, "settle", 750*time.Millisecond, "how long to wait for Asterisk's log lines after the reload")
}

func (a *app) applier(ctx context.Context, o applyOptions) (*ami.Applier, func(), error) {
	conn, err := a.dialAMI(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := a.amiSettings()
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	cfg := s.Applier()
	cfg.Settle, cfg.BackoutOnFailure = o.settle, !o.keepOnFailure
	ap, err := ami.NewApplier(cfg, conn, nil)
	if err != nil {
		conn.Close()
		return nil, nil, userError{err}
	}
	return ap, func() { conn.Close() }, nil
}

// applyAsteriskConfig writes files (base name → content) for module,
// reloads it and prints the outcome; a failed reload is a user error
// (exit 1). "pbxtopo dundi apply" is this with the files the roaming
// package generates.
func (a *app) applyAsteriskConfig(ctx context.Context, module string, files map[string][]byte, o applyOptions) error {
	ap, done, err := a.applier(ctx, o)
	if err != nil {
		return err
	}
	defer done()
	res, err := ap.Apply(ctx, ami.ApplyRequest{Module: module, Files: files, Force: o.force})
	if err != nil {
		return applyError(err)
	}
	return a.printApply(res)
}

// applyError makes the errors a user can fix user errors (exit 1 with
// the message alone).
func applyError(err error) error {
	if errors.Is(err, ami.ErrInvalid) || errors.Is(err, ami.ErrPermission) || errors.Is(err, ami.ErrNotConnected) {
		return userError{err}
	}
	return err
}

// reloadModule reloads one module over AMI and prints what Asterisk
// made of it.
func (a *app) reloadModule(ctx context.Context, module string) error {
	conn, err := a.dialAMI(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	s, err := a.amiSettings()
	if err != nil {
		return err
	}
	res, err := ami.ReloadModule(ctx, conn, module, s.LogFile, 0)
	if err != nil {
		return applyError(err)
	}
	return a.printApply(res)
}

func (a *app) printApply(res *ami.ApplyResult) error {
	if f, _ := a.format(); f == "json" {
		if err := printJSON(a.stdout, res); err != nil {
			return err
		}
	} else {
		writeApply(a.stdout, res, "")
	}
	switch res.Status {
	case ami.ApplyFailed:
		return usageErrorf("%s: %s", res.Module, failedWhy(res))
	case ami.ApplyUnverified:
		fmt.Fprintln(a.stderr, "pbxtopo: warning:", res.Note)
	}
	return nil
}

// failedWhy says what made an apply FAILED and what to do, by cause.
func failedWhy(res *ami.ApplyResult) string {
	switch res.Cause {
	case ami.CausePermission, ami.CauseNotLoaded:
		return "Asterisk refused: " + res.Note
	}
	what := "fix what Asterisk logged (see above)"
	if res.Backout != nil {
		what += "; the previous files are back in place"
	}
	return "the reload FAILED: Asterisk did not load the files as written: " + what
}

func writeApply(w io.Writer, res *ami.ApplyResult, indent string) {
	fmt.Fprintf(w, "%s%s: %s\n", indent, res.Module, res.Status)
	if len(res.Written) > 0 {
		fmt.Fprintf(w, "%s  wrote %s", indent, strings.Join(res.Written, ", "))
		if res.Backup != "" {
			fmt.Fprintf(w, " (previous versions in backup %s)", res.Backup)
		}
		fmt.Fprintln(w)
	}
	if len(res.Unchanged) > 0 {
		fmt.Fprintf(w, "%s  unchanged %s\n", indent, strings.Join(res.Unchanged, ", "))
	}
	if res.Answer != "" {
		fmt.Fprintf(w, "%s  Asterisk answered: %s\n", indent, res.Answer)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(w, "%s  Asterisk logged while reloading:\n", indent)
		for _, p := range res.Problems {
			fmt.Fprintf(w, "%s    %s\n", indent, p)
		}
	}
	if len(res.Notices) > 0 {
		fmt.Fprintf(w, "%s  notices meanwhile (they drop nothing):\n", indent)
		for _, p := range res.Notices {
			fmt.Fprintf(w, "%s    %s\n", indent, p)
		}
	}
	if len(res.Other) > 0 {
		fmt.Fprintf(w, "%s  other log lines meanwhile (not about %s):\n", indent, res.Module)
		for _, p := range res.Other {
			fmt.Fprintf(w, "%s    %s\n", indent, p)
		}
	}
	if res.Note != "" {
		fmt.Fprintf(w, "%s  %s\n", indent, res.Note)
	}
	if res.Backout != nil {
		fmt.Fprintf(w, "%s  backed out to the previous files:\n", indent)
		writeApply(w, res.Backout, indent+"    ")
	}
}

func (a *app) amiApplyCmd() *cobra.Command {
	var o applyOptions
	var module string
	var list []string
	cmd := &cobra.Command{
		Use:   "apply --module MODULE [--dir DIR] FILE...",
		Short: "Write generated Asterisk config atomically, reload the module, and check Asterisk's log",
		Long: `Copies each FILE into the configuration directory under its base name (a temporary file,
fsync, rename), keeping the previous versions in a backup; reloads MODULE through AMI; then
reads Asterisk's log from before the reload. Asterisk answers that a module reloaded even when
it dropped entries it could not parse, so a reload that logged warnings, errors or notices
about the module or its files is reported FAILED (exit 1), with the lines, and the previous
files are put back and reloaded (unless --keep-on-failure).`,
		Example: `  pbxtopo ami apply --module pbx_dundi.so --dir /etc/asterisk out/dundi.conf out/extensions_dundi.conf
  pbxtopo ami apply --module pbx_dundi.so --files out/dundi.conf,out/extensions_dundi.conf -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := append(args, list...)
			if module == "" || len(paths) == 0 {
				return usageErrorf("give --module (e.g. pbx_dundi.so) and the files to apply")
			}
			files := map[string][]byte{}
			for _, p := range paths {
				b, err := os.ReadFile(p)
				if err != nil {
					return userError{err}
				}
				files[filepath.Base(p)] = b
			}
			return a.applyAsteriskConfig(cmd.Context(), module, files, o)
		},
	}
	cmd.Flags().StringVar(&module, "module", "", "the module to reload, e.g. pbx_dundi.so, chan_pjsip.so")
	cmd.Flags().StringSliceVar(&list, "files", nil, "files to apply (comma-separated; or give them as arguments)")
	a.addApplyFlags(cmd, &o)
	return cmd
}

func (a *app) amiBackoutCmd() *cobra.Command {
	var o applyOptions
	var id string
	cmd := &cobra.Command{
		Use:     "backout [--backup ID]",
		Short:   "Put back the files an apply replaced (the newest backup by default) and reload",
		Example: "  pbxtopo ami backout --dir /etc/asterisk\n  pbxtopo ami backups --dir /etc/asterisk",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ap, done, err := a.applier(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer done()
			res, err := ap.Backout(cmd.Context(), id)
			if err != nil {
				return applyError(err)
			}
			return a.printApply(res)
		},
	}
	cmd.Flags().StringVar(&id, "backup", "", "the backup to restore (see pbxtopo ami backups)")
	a.addApplyFlags(cmd, &o)
	return cmd
}

func (a *app) amiBackupsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backups",
		Short: "List the backups apply kept, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.amiSettings()
			if err != nil {
				return err
			}
			ap, err := ami.NewApplier(s.Applier(), nil, nil)
			if err != nil {
				return userError{err}
			}
			ids, err := ap.Backups()
			if err != nil {
				return err
			}
			if ids == nil {
				ids = []string{}
			}
			return a.print(result{JSON: ids, Head: []string{"backup"}, Rows: func() [][]string {
				var rows [][]string
				for _, id := range ids {
					rows = append(rows, []string{id})
				}
				return rows
			}, Table: func(w io.Writer) error {
				if len(ids) == 0 {
					fmt.Fprintln(w, "no backups: apply keeps one each time it replaces files")
				}
				for _, id := range ids {
					fmt.Fprintln(w, id)
				}
				return nil
			}})
		},
	}
	a.bindAMIFlags(cmd, "ami.config_dir", "ami.backup_dir")
	return cmd
}

// checkActions are the actions the collector uses, with what each is
// for; check tries each. Apply's (ami.ApplyActions) are not tried, they
// would reload modules: check finds them in ListCommands, which lists
// only the actions the user may send.
var checkActions = []struct{ action, use string }{
	{"PJSIPShowContacts", "PJSIP registrations"}, {"SIPpeers", "chan_sip registrations"},
	{"ExtensionStateList", "device states"}, {"QueueStatus", "queue and agent state"},
	{"MailboxCount", "voicemail counts"}, {"DBGet", "call forward (AstDB)"},
	{"PJSIPShowRegistrationsOutbound", "PJSIP trunk registrations"}, {"SIPshowregistry", "chan_sip trunk registrations"},
}

func (a *app) amiCheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Log in and check every action the collector and apply need: shows what manager.conf allows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := a.dialAMI(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			type check struct {
				Action string `json:"action"`
				Use    string `json:"use"`
				State  string `json:"state"`
			}
			var checks []check
			refused := 0
			perm, err := ami.Permitted(cmd.Context(), conn)
			if err != nil {
				return err
			}
			for _, c := range ami.ApplyActions {
				state := "ok"
				switch {
				case perm == nil:
					state = "unknown (Asterisk does not list the permitted actions)"
				case !perm[strings.ToLower(c.Action)]:
					state, refused = "REFUSED: add "+c.Class+" to the write = line of the manager.conf user", refused+1
				}
				checks = append(checks, check{c.Action, "apply (reload, load)", state})
			}
			for _, c := range checkActions {
				act := ami.NewAction(c.action)
				if c.action == "MailboxCount" {
					act.Set("Mailbox", "0@default")
				}
				if c.action == "DBGet" {
					act.Set("Family", "pbxtopo-check")
					act.Set("Key", "none")
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
				_, err := conn.Send(ctx, ami.Action{Message: act, ListEnd: []string{"DBGetResponse"}})
				cancel()
				state := "ok"
				var ae *ami.ActionError
				switch {
				case errors.As(err, &ae) && strings.Contains(ae.Message, "Permission denied"):
					state, refused = "REFUSED: add write = system,reporting to the manager.conf user", refused+1
				case errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Message), "unknown command"):
					state = "not available (module not loaded)"
				case errors.As(err, &ae):
					state = "ok (" + ae.Message + ")"
				case err != nil:
					return err
				}
				checks = append(checks, check{c.action, c.use, state})
			}
			addr, user := a.v.GetString("ami.addr"), a.v.GetString("ami.user")
			err = a.print(result{JSON: map[string]any{"addr": addr, "user": user, "protocol": conn.Version(), "actions": checks},
				Head: []string{"action", "use", "state"}, Rows: func() [][]string {
					var rows [][]string
					for _, c := range checks {
						rows = append(rows, []string{c.Action, c.Use, c.State})
					}
					return rows
				}, Table: func(w io.Writer) error {
					fmt.Fprintf(w, "logged in to %s as %s (manager protocol %s)\n", addr, user, conn.Version())
					for _, c := range checks {
						fmt.Fprintf(w, "  %-31s %-28s %s\n", c.Action, c.Use, c.State)
					}
					return nil
				}})
			if err == nil && refused > 0 {
				return usageErrorf("%d actions refused: see the operator guide's manager.conf example", refused)
			}
			return err
		},
	}
	a.bindAMIFlags(cmd, "ami.addr", "ami.user", "ami.secret")
	return cmd
}

func (a *app) amiCollectCmd() *cobra.Command {
	var cluster, node string
	cmd := &cobra.Command{
		Use:   "collect --data-dir DIR [--node N]",
		Short: "Run the status collector in the foreground on a store no agent holds (the agent runs it itself)",
		Long: `Runs the AMI status collector against the store of --data-dir until interrupted: a full
refresh at start and every --refresh, events in between, written to the store's status space
at most every --flush. For trying the collector against a real Asterisk; a running agent with
ami.addr set runs the same collector.`,
		Example: "  PBXTOPO_AMI_USER=pbxtopo PBXTOPO_AMI_SECRET=... pbxtopo ami collect --data-dir ./tpa1 --node ast16",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := a.v.GetString("data-dir")
			if dir == "" {
				return usageErrorf("give --data-dir: the store to write status to")
			}
			if _, err := os.Stat(storeFile(dir)); err != nil {
				return usageErrorf("no store in %s: seed it first (pbxtopo import --data-dir %s --replica CLUSTER FILE)", dir, dir)
			}
			st, err := store.Open(store.DefaultConfig(storeFile(dir)))
			if err != nil {
				return userError{err}
			}
			defer st.Close()
			if cluster == "" {
				cluster = st.Replica()
			}
			if node == "" {
				node, _ = os.Hostname()
			}
			cfg, cc, err := a.amiCollectorConfig(cluster, node)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(a.stderr, nil))
			c, err := ami.New(cfg, cc, ami.Deps{Store: st, Logger: log})
			if err != nil {
				return userError{err}
			}
			return c.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cluster, "cluster", "", "the cluster (default: the store's replica)")
	f.StringVar(&node, "node", "", "this node's name (default: the host name)")
	a.bindAMIFlags(cmd, "ami.addr", "ami.user", "ami.secret", "ami.refresh", "ami.flush", "ami.vip", "ami.cfwd_family")
	return cmd
}
