package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/spf13/cobra"
)

// backupCmd: pbxtopo backup FILE, online through an agent (admin role) or
// offline with --data-dir.
func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent, checksummed backup of a node's store (with Raft: of its cluster's state)",
		Long: `backup copies the whole store in one read transaction while the agent keeps taking
writes (--addr, admin role), or the store of --data-dir when no agent runs on it. The file
holds a header (format, schema, cluster, node, incarnation, time, length), the store image
and a SHA-256 checksum; it is checked before it is kept, and written under a temporary
name first, so FILE is either a whole backup or not there.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			ba, done, err := backendAs[service.BackupAPI](a, false)
			if err != nil {
				return err
			}
			defer done()
			tmp := file + ".partial"
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return userError{fmt.Errorf("backup: %w", err)}
			}
			defer os.Remove(tmp)
			start := time.Now()
			_, err = ba.Backup(cmd.Context(), f)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			h, err := verifyBackup(tmp) // what is on disk, not what was sent
			if err != nil {
				return err
			}
			if err := os.Rename(tmp, file); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "backup of cluster %s (node %s, incarnation %016x, schema %d) written to %s: %s in %s\n",
				h.Cluster, dash(h.Node), h.Incarnation, h.Schema, file, humanBytes(fileSize(file)), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}

func verifyBackup(path string) (store.BackupHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.BackupHeader{}, userError{err}
	}
	defer f.Close()
	h, err := store.ReadBackup(f, io.Discard)
	if err != nil {
		return h, userError{fmt.Errorf("%s: %w", path, err)}
	}
	return h, nil
}

// restoreCmd: pbxtopo restore FILE --data-dir DIR.
func (a *app) restoreCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "restore FILE --data-dir DIR",
		Short: "Restore a backup into a stopped agent's data dir, under a new incarnation",
		Long: `restore checks the backup whole (format, schema, length, checksum) and writes its store
into --data-dir under a new incarnation, so the restored node never reuses a sequence number
of the store it replaces. Start the agent afterwards: it catches up from its peers, so writes
made after the backup are not lost. A data dir that still holds a store or Raft state is
refused unless --force, which moves them aside (*.before-restore-TIME). With Raft, restore
every node of the cluster from the same file, then start them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.v.GetString("data-dir")
			if dir == "" {
				return usageErrorf("restore needs --data-dir DIR: the data dir of the stopped agent to restore")
			}
			path, raftDir := storeFile(dir), filepath.Join(dir, "raft")
			var old []string
			for _, p := range []string{path, raftDir} {
				if _, err := os.Stat(p); err == nil {
					old = append(old, p)
				}
			}
			if len(old) > 0 && !force {
				return usageErrorf("%s already holds %v: stop its agent and give --force to move them aside, or restore into an empty data dir", dir, old)
			}
			if _, err := os.Stat(path); err == nil {
				if err := store.CheckNotInUse(path); err != nil {
					return usageErrorf("%v (is its agent running? stop it first)", err)
				}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return userError{err}
			}
			defer f.Close()
			start := time.Now()
			staged := path + ".restored"
			os.Remove(staged)
			res, err := store.RestoreBackup(f, staged)
			if err != nil {
				return userError{fmt.Errorf("restore %s: %w; nothing was changed", args[0], err)}
			}
			stamp := time.Now().UTC().Format("20060102T150405Z")
			for _, p := range old {
				if err := os.Rename(p, p+".before-restore-"+stamp); err != nil {
					os.Remove(staged)
					return err
				}
			}
			if err := os.Rename(staged, path); err != nil {
				return err
			}
			h := res.Header
			fmt.Fprintf(a.stdout, "restored cluster %s from the backup of node %s taken %s into %s in %s\n",
				h.Cluster, dash(h.Node), h.Created.Format(time.RFC3339), dir, time.Since(start).Round(time.Millisecond))
			fmt.Fprintf(a.stdout, "new incarnation %016x (was %016x); start the agent: it catches up from its peers\n", res.Incarnation, h.Incarnation)
			if len(old) > 0 {
				fmt.Fprintf(a.stdout, "the previous store and Raft state were moved aside with the suffix .before-restore-%s\n", stamp)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "move an existing store and Raft state aside instead of refusing")
	return c
}

// storeCmd: maintenance of the store file.
func (a *app) storeCmd() *cobra.Command {
	s := &cobra.Command{Use: "store", Short: "Maintain the store file: compact"}
	s.AddCommand(&cobra.Command{
		Use:   "compact (--data-dir DIR | --addr ADDR)",
		Short: "Rewrite the store without its free pages: offline (--data-dir, agent stopped) or online (--addr, admin; writes wait meanwhile)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := a.v.GetString("data-dir")
			start := time.Now()
			var before, after int64
			var where string
			switch {
			case dir != "":
				res, err := store.Compact(storeFile(dir))
				if errors.Is(err, os.ErrNotExist) {
					return usageErrorf("no store in %s", dir)
				}
				if err != nil {
					return userError{err}
				}
				before, after, where = res.Before, res.After, storeFile(dir)
			case a.v.GetString("addr") != "":
				ba, done, err := backendAs[service.BackupAPI](a, true)
				if err != nil {
					return err
				}
				defer done()
				res, err := ba.CompactStore(cmd.Context())
				if err != nil {
					return err
				}
				before, after, where = res.Before, res.After, "the store of the agent at "+a.v.GetString("addr")
			default:
				return usageErrorf("store compact needs --data-dir DIR (offline, agent stopped) or --addr ADDR (online, admin token)")
			}
			fmt.Fprintf(a.stdout, "compacted %s: %s before, %s after (%.0f%%) in %s\n", where,
				humanBytes(before), humanBytes(after), 100*float64(after)/float64(max(before, 1)), time.Since(start).Round(time.Millisecond))
			return nil
		},
	})
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
