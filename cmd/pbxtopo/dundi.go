package main

import "github.com/spf13/cobra"

// dundiCmd groups the DUNDi commands.
func (a *app) dundiCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dundi",
		Short: "DUNDi: ask any DUNDi peer (Asterisk or a pbxtopo agent)",
	}
	cmd.AddCommand(a.dundiLookupCmd())
	return cmd
}
