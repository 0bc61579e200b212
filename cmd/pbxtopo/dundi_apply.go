package main

import (
	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/spf13/cobra"
)

func (a *app) dundiApplyCmd() *cobra.Command {
	var cluster string
	var opts applyOptions
	cmd := &cobra.Command{
		Use:   "apply --cluster C",
		Short: "Generate a cluster's DUNDi files, put them in Asterisk's config directory and reload each module",
		Long: `Generates the cluster's files as 'pbxtopo dundi config' does and applies them to the
local Asterisk one module at a time (pbx_dundi.so, chan_iax2.so, pbx_config.so), as 'pbxtopo ami
apply' does: each file written atomically into DIR/pbxtopo/, then an #include "pbxtopo/FILE" line
added to the end of dundi.conf, iax.conf or extensions.conf where it is missing (with an empty
[general] or [mappings] section before it where dundi.conf lacks one), the previous versions kept
for 'pbxtopo ami backout', the module reloaded over AMI (or loaded, where it had declined to load
at start), and Asterisk's log read for what it said while reloading. A reload that made Asterisk
drop entries is FAILED and backed out (unless --keep-on-failure), and the modules after it are
left alone. Files whose content is unchanged (the header aside) are not rewritten or reloaded
(unless --force).`,
		Example: `  pbxtopo dundi apply --cluster tpa1
  pbxtopo dundi apply --cluster tpa1 --data-dir /var/lib/pbxtopo --dir /etc/asterisk`,
		Args: userArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cluster == "" {
				return usageErrorf("say which cluster's files to apply (--cluster C): the cluster of this Asterisk")
			}
			ra, done, err := backendAs[service.RoamingAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			b, err := ra.DUNDiConfig(cmd.Context(), cluster)
			if err != nil {
				return err
			}
			reqs, err := agent.DUNDiRequests(b, opts.force)
			if err != nil {
				return err
			}
			ap, done, err := a.applier(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer done()
			for _, req := range reqs {
				res, err := ap.Apply(cmd.Context(), req)
				if err != nil {
					return applyError(err)
				}
				if err := a.printApply(res); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cluster, "cluster", "", "the cluster whose files to apply (this Asterisk's)")
	a.addApplyFlags(cmd, &opts)
	return cmd
}
