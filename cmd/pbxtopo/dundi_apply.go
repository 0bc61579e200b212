package main

import (
	"fmt"

	"github.com/pbxtopo/pbxtopo/agent"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/spf13/cobra"
)

// dundiModules is the module each generated file belongs to, in the order
// they are reloaded: the DUNDi peers first, then the IAX2 user the answers
// dial, then the dialplan that uses both.
var dundiModules = []struct{ file, module string }{
	{roaming.DUNDiFile, "pbx_dundi.so"},
	{roaming.IAXFile, "chan_iax2.so"},
	{roaming.ExtensionsFile, "pbx_config.so"},
}

func (a *app) dundiApplyCmd() *cobra.Command {
	var cluster string
	var opts applyOptions
	cmd := &cobra.Command{
		Use:   "apply --cluster C",
		Short: "Generate a cluster's DUNDi files, write them into Asterisk's config directory and reload each module",
		Long: `Generates the cluster's files as 'pbxtopo dundi config' does and applies them to the
local Asterisk one module at a time (pbx_dundi.so, chan_iax2.so, pbx_config.so), as 'pbxtopo ami
apply' does: files written atomically with the previous versions kept for 'pbxtopo ami backout',
the module reloaded over AMI, and Asterisk's log read for what it said while reloading. A reload
Asterisk accepted with warnings is FAILED and backed out (unless --keep-on-failure), and the
modules after it are left alone. Unchanged files are not reloaded (unless --force).`,
		Example: `  pbxtopo dundi apply --cluster tpa1
  pbxtopo dundi apply --cluster tpa1 --data-dir /var/lib/pbxtopo --dir /etc/asterisk`,
		Args: userArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cluster == "" {
				return usageErrorf("say which cluster's files to apply (--cluster C): the cluster of this Asterisk")
			}
			ra, done, err := backendAs[agent.RoamingAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			b, err := ra.DUNDiConfig(cmd.Context(), cluster)
			if err != nil {
				return err
			}
			content := map[string][]byte{}
			for _, f := range b.Files {
				content[f.Name] = []byte(f.Content)
			}
			for _, m := range dundiModules {
				c, ok := content[m.file]
				if !ok {
					return fmt.Errorf("the generated files lack %s", m.file)
				}
				if err := a.applyAsteriskConfig(cmd.Context(), m.module, map[string][]byte{m.file: c}, opts); err != nil {
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
