package main

import (
	"fmt"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/spf13/cobra"
)

func (a *app) extCmd() *cobra.Command {
	ext := &cobra.Command{
		Use:   "ext",
		Short: "List, show, add, change, remove and batch-create extensions",
	}
	ext.AddCommand(a.extListCmd(), a.extGetCmd(), a.extAddCmd(), a.extSetCmd(), a.extRmCmd(), a.extBatchCmd(), a.extMoveCmd())
	return ext
}

func (a *app) extListCmd() *cobra.Command {
	var q service.Query
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List extensions by group, cluster, site or text, sorted by any field",
		Example: `  pbxtopo ext list --group USSales --sort name
  pbxtopo ext list --cluster sfo -o csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, done, err := a.backend(false)
			if err != nil {
				return err
			}
			defer done()
			page, err := api.List(cmd.Context(), "extensions", q)
			if err != nil {
				return err
			}
			return a.printRecords(pbx.Extensions, page.Rows, defaultColumns(pbx.Extensions))
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Group, "group", "", "only this group")
	f.StringVar(&q.Cluster, "cluster", "", "only this cluster")
	f.StringVar(&q.Site, "site", "", "only this site")
	f.StringVar(&q.Search, "search", "", "text in the name, number, caller id or mailbox")
	f.StringVar(&q.Sort, "sort", "", "sort by this field (e.g. name, regexten, cluster)")
	f.BoolVar(&q.Desc, "desc", false, "sort descending")
	f.IntVar(&q.Limit, "limit", 0, "at most this many rows")
	f.IntVar(&q.Offset, "offset", 0, "skip this many rows")
	return cmd
}

func (a *app) extGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get CLUSTER/EXT",
		Short:   "Show one extension with every field and its versions",
		Example: "  pbxtopo ext get tpa1/6109",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, done, err := a.backend(false)
			if err != nil {
				return err
			}
			defer done()
			view, err := api.Get(cmd.Context(), "extensions", args[0])
			if err != nil {
				return err
			}
			return a.printView(pbx.Extensions, view)
		},
	}
}

func (a *app) printView(t *pbx.Table, view *service.RecordView) error {
	f, err := a.format()
	if err != nil {
		return err
	}
	if !a.v.GetBool("show-secrets") {
		for i := range view.Versions {
			view.Versions[i].Fields = t.Redact(view.Versions[i].Fields)
		}
		view.Fields = t.Redact(view.Fields)
	}
	if f == "json" {
		return printJSON(a.stdout, view)
	}
	if view.Deleted && !view.Conflict {
		fmt.Fprintf(a.stdout, "%s %s was deleted (version %s)\n", t.Noun, view.Key, view.Version)
		return nil
	}
	a.printFields(t, view.Fields)
	fmt.Fprintf(a.stdout, "\nversion %s, written at %s by %s on %s\n", view.Version,
		view.Versions[0].Time.Format("2006-01-02 15:04:05Z"), view.Versions[0].Author, view.Versions[0].Cluster)
	if view.Conflict {
		fmt.Fprintf(a.stdout, "CONFLICT: %d concurrent versions; see 'pbxtopo conflicts show %s/%s'\n", len(view.Versions), t.Name, view.Key)
	}
	return nil
}

// fieldFlags adds one flag per configuration field of t, named as the
// field ("--name", "--mailbox", "--call-limit").
func fieldFlags(cmd *cobra.Command, t *pbx.Table, skip ...string) map[string]*string {
	vals := map[string]*string{}
	for _, f := range t.Fields {
		if f.Status || contains(skip, f.Name) {
			continue
		}
		help := f.Note
		if help == "" {
			help = f.Name
		}
		if f.SQL != "" {
			help += " (" + f.SQL + ")"
		}
		vals[f.Name] = cmd.Flags().String(f.Name, "", help)
	}
	return vals
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *app) extAddCmd() *cobra.Command {
	var num string
	cmd := &cobra.Command{
		Use:     "add --cluster C --ext N [--field value ...]",
		Short:   "Create an extension",
		Example: `  pbxtopo ext add --cluster tpa1 --ext 6110 --name "Ana Ruiz" --astgroup USSales --mailbox 6110 --context USSales1`,
		Args:    cobra.NoArgs,
	}
	vals := fieldFlags(cmd, pbx.Extensions, "regexten")
	cmd.Flags().StringVar(&num, "ext", "", "the extension number (regexten)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f := pbx.Fields{"regexten": num}
		for name, v := range vals {
			if *v != "" {
				f[name] = *v
			}
		}
		if f["cluster"] == "" || num == "" {
			return usageErrorf("give the cluster and the number: ext add --cluster C --ext N")
		}
		return a.put(cmd, f, service.PutOptions{Must: store.MustNotExist}, "created")
	}
	return cmd
}

func (a *app) put(cmd *cobra.Command, f pbx.Fields, opts service.PutOptions, verb string) error {
	api, done, err := a.backend(true)
	if err != nil {
		return err
	}
	defer done()
	reply, err := api.Put(cmd.Context(), "extensions", f, opts)
	if err != nil {
		return err
	}
	return a.printWrite(reply, fmt.Sprintf("%s extension %s", verb, pbx.Extensions.KeyOf(f)))
}

func (a *app) printWrite(reply *service.WriteReply, what string) error {
	if f, _ := a.format(); f == "json" {
		return printJSON(a.stdout, reply)
	}
	if reply.Changed == 0 {
		fmt.Fprintln(a.stdout, reply.Note)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s (version %s)\n", what, strings.Join(reply.Versions, ", "))
	return nil
}

func (a *app) extSetCmd() *cobra.Command {
	var ifMatch, take string
	cmd := &cobra.Command{
		Use:   "set CLUSTER/EXT field=value...",
		Short: "Change fields of an extension (an empty value clears a field)",
		Example: `  pbxtopo ext set tpa1/6109 mailbox=6109 roaming=yes
  pbxtopo ext set tpa1/6109 callgroup=
  pbxtopo ext set tpa1/6105 --take lon mailbox=6105   # in conflict: lon's side plus this change wins`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := pbx.Extensions.ParseKey(args[0])
			if err != nil {
				return userError{err}
			}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usageErrorf("%q: want field=value", kv)
				}
				if contains(pbx.Extensions.Key, k) {
					return usageErrorf("%s is part of the key; to move an extension, add the new one and remove the old", k)
				}
				key[strings.ToLower(strings.TrimSpace(k))] = v
			}
			return a.put(cmd, key, service.PutOptions{Merge: true, IfMatch: ifMatch, Take: take}, "changed")
		},
	}
	cmd.Flags().StringVar(&ifMatch, "if-match", "", "fail unless the extension is still at this version")
	cmd.Flags().StringVar(&take, "take", "", "for an extension in conflict: set the fields over the side made at this cluster, resolving the conflict")
	return cmd
}

func (a *app) extRmCmd() *cobra.Command {
	var ifMatch string
	cmd := &cobra.Command{
		Use:     "rm CLUSTER/EXT",
		Short:   "Remove an extension",
		Example: "  pbxtopo ext rm tpa1/6110",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, done, err := a.backend(true)
			if err != nil {
				return err
			}
			defer done()
			reply, err := api.Delete(cmd.Context(), "extensions", args[0], ifMatch)
			if err != nil {
				return err
			}
			return a.printWrite(reply, "removed extension "+args[0])
		},
	}
	cmd.Flags().StringVar(&ifMatch, "if-match", "", "fail unless the extension is still at this version")
	return cmd
}

func (a *app) extBatchCmd() *cobra.Command {
	var req service.BatchRequest
	cmd := &cobra.Command{
		Use:   "batch --template CLUSTER/EXT|GROUP --cluster C --from N --to M [--dry-run]",
		Short: "Create a range of extensions from a template extension or group profile",
		Long: `Creates extensions N..M on cluster C, copying the profile of a template: an existing
extension (CLUSTER/EXT; its person-specific fields are not copied) or a group. Each new
extension gets its own random secret and voicemail PIN. The batch is validated first and
applied only when every number is valid (guide §3.0.5); --dry-run only validates.`,
		Example: `  pbxtopo ext batch --template USSales --cluster tpa1 --from 6110 --to 6119 --dry-run
  pbxtopo ext batch --template tpa2/5709 --cluster tpa2 --from 5711 --to 5720`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Template == "" || req.Cluster == "" || req.From == "" {
				return usageErrorf("give --template, --cluster and --from (and --to for a range)")
			}
			if req.To == "" {
				req.To = req.From
			}
			api, done, err := a.backend(!req.DryRun)
			if err != nil {
				return err
			}
			defer done()
			reply, err := api.Batch(cmd.Context(), req)
			if err != nil {
				return err
			}
			return a.printBatch(reply)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Template, "template", "", "template: an extension CLUSTER/EXT or a group name")
	f.StringVar(&req.Cluster, "cluster", "", "cluster to create the extensions on")
	f.StringVar(&req.From, "from", "", "first number")
	f.StringVar(&req.To, "to", "", "last number (default: --from)")
	f.BoolVar(&req.DryRun, "dry-run", false, "validate only; change nothing")
	return cmd
}

func (a *app) printBatch(r *service.BatchReply) error {
	if f, _ := a.format(); f == "json" {
		for i := range r.Records {
			r.Records[i] = pbx.Extensions.Redact(r.Records[i])
		}
		return printJSON(a.stdout, r)
	}
	if r.Valid {
		fmt.Fprintf(a.stdout, "VALID: %d extensions\n", len(r.Records))
	} else {
		fmt.Fprintf(a.stdout, "INVALID: %d %s\n", len(r.Problems), plural(len(r.Problems), "problem", "problems"))
	}
	for _, p := range r.Problems {
		fmt.Fprintln(a.stdout, "  -", p)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(a.stdout, "  note:", n)
	}
	switch {
	case !r.Valid:
		return userError{fmt.Errorf("batch is invalid; nothing was created")}
	case r.DryRun:
		fmt.Fprintln(a.stdout, "dry run: nothing was created")
	default:
		fmt.Fprintf(a.stdout, "created %d extensions\n", r.Created)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (a *app) extMoveCmd() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "move CLUSTER/EXT --to CLUSTER",
		Short: "Move an extension to another cluster in one change",
		Long: `Creates the extension on the target cluster (its site is the cluster's) and removes it
from its cluster in one write, so every reader sees it on one cluster or the other and never
on neither. The history of both keys names the move. Refused when the target cluster already
has the number, or when the extension is in conflict.`,
		Example: "  pbxtopo ext move tpa1/6109 --to sfo",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageErrorf("say which cluster the extension moves to (--to CLUSTER)")
			}
			mv, done, err := backendAs[service.MoveAPI](a, true)
			if err != nil {
				return err
			}
			defer done()
			reply, err := mv.Move(cmd.Context(), service.MoveRequest{From: args[0], To: to})
			if err != nil {
				return err
			}
			number := args[0][strings.IndexByte(args[0], '/')+1:]
			return a.printWrite(reply, fmt.Sprintf("moved extension %s to %s/%s", args[0], to, number))
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the cluster the extension moves to")
	return cmd
}
