package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/store"
	"github.com/spf13/cobra"
)

// keyring returns the keys of secrets.key_file (PBXTOPO_SECRETS_KEY_FILE)
// or secrets.key (PBXTOPO_SECRETS_KEY), or nil when neither is set.
func (a *app) keyring() (*secrets.Keyring, error) {
	kr, err := secrets.Load(a.v.GetString("secrets.key_file"), a.v.GetString("secrets.key"))
	if err != nil {
		return nil, userError{err}
	}
	return kr, nil
}

// configSecret returns a config value that may be sealed ("enc:...").
func (a *app) configSecret(key string) (string, error) {
	v := a.v.GetString(key)
	if !strings.HasPrefix(v, secrets.EncPrefix) {
		return v, nil
	}
	kr, err := a.keyring()
	if err != nil {
		return "", err
	}
	out, err := secrets.OpenString(kr, key, v)
	if err != nil {
		return "", userError{err}
	}
	return out, nil
}

// storeSealer is the sealer offline commands open a store with.
func (a *app) storeSealer(cfg *store.Config) error {
	kr, err := a.keyring()
	if err != nil {
		return err
	}
	if kr != nil {
		cfg.Sealer = kr
	}
	return nil
}

func (a *app) secretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Keys that seal secrets at rest: new-key, seal, rotate-key",
		Long: `SIP secrets, voicemail PINs and trunk secrets are sealed (AES-256-GCM) in the store, its
history and its backups with the key of secrets.key_file (or PBXTOPO_SECRETS_KEY). Config
passwords (ami.secret, mysql.dsn) may be given as enc: values made by 'pbxtopo secrets seal'.
Commands find the key file through --key-file or PBXTOPO_SECRETS_KEY_FILE.`,
	}
	var keyFile string
	cmd.PersistentFlags().StringVar(&keyFile, "key-file", "", "the key file (default: secrets.key_file, env PBXTOPO_SECRETS_KEY_FILE)")
	file := func() (string, error) {
		if keyFile == "" {
			keyFile = a.v.GetString("secrets.key_file")
		}
		if keyFile == "" {
			return "", usageErrorf("no key file: give --key-file FILE (or PBXTOPO_SECRETS_KEY_FILE)")
		}
		return keyFile, nil
	}
	load := func() (*secrets.Keyring, error) {
		if keyFile != "" {
			kr, err := secrets.LoadFile(keyFile)
			if err != nil {
				return nil, userError{err}
			}
			return kr, nil
		}
		kr, err := a.keyring()
		if err == nil && kr == nil {
			err = usageErrorf("no key: give --key-file FILE, PBXTOPO_SECRETS_KEY_FILE or PBXTOPO_SECRETS_KEY")
		}
		return kr, err
	}

	newKey := &cobra.Command{
		Use:     "new-key --key-file FILE",
		Short:   "Make a new key file (mode 0600); refuses to overwrite one",
		Example: "  pbxtopo secrets new-key --key-file /etc/pbxtopo/secrets.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := file()
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); err == nil {
				return usageErrorf("%s exists: rotate it with 'pbxtopo secrets rotate-key', or remove it first", path)
			}
			k, err := secrets.NewKey()
			if err != nil {
				return err
			}
			if err := secrets.WriteFile(path, [][]byte{k}); err != nil {
				return userError{fmt.Errorf("write %s: %w", path, err)}
			}
			fmt.Fprintf(a.stdout, "wrote %s (key id %s); set secrets.key_file: %s on every node of this cluster\n", path, secrets.KeyID(k), path)
			return nil
		},
	}

	var from string
	seal := &cobra.Command{
		Use:   "seal [--from FILE]",
		Short: "Print a config password as an enc: value (reads it from stdin or --from)",
		Long: `Reads one value (the first line of stdin, or of --from FILE) and prints it sealed with the
current key, for ami.secret or mysql.dsn in the config file. The value is never an argument,
so it stays out of shell history and ps.`,
		Example: "  printf %s \"$AMI_PASS\" | pbxtopo secrets seal --key-file /etc/pbxtopo/secrets.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kr, err := load()
			if err != nil {
				return err
			}
			var r io.Reader = os.Stdin
			if from != "" {
				f, err := os.Open(from)
				if err != nil {
					return userError{err}
				}
				defer f.Close()
				r = f
			}
			line, err := bufio.NewReader(r).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return userError{err}
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				return usageErrorf("no value to seal: give it on stdin or in --from FILE")
			}
			enc, err := kr.SealString(line)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, enc)
			return nil
		},
	}
	seal.Flags().StringVar(&from, "from", "", "read the value from this file instead of stdin")

	// reseal re-seals the stopped store of --data-dir with kr's current key.
	reseal := func(cmd *cobra.Command, kr *secrets.Keyring) (int, error) {
		dir := a.v.GetString("data-dir")
		cfg := store.DefaultConfig(storeFile(dir))
		cfg.Sealer = kr
		st, err := store.Open(cfg)
		if err != nil {
			return 0, userError{err}
		}
		n, err := st.Reseal(cmd.Context())
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, userError{fmt.Errorf("re-seal stopped after part of the store (run 'pbxtopo secrets reseal' again; the key file holds every key): %w", err)}
		}
		if n > 0 {
			// After a re-seal the pages the old values were on (plaintext,
			// or sealed with a dropped key) are free but not erased, and a
			// copy of the file would carry them: compaction rewrites the
			// file with its live data only.
			res, err := store.Compact(cfg.Path)
			if err != nil {
				return n, userError{fmt.Errorf("the store is re-sealed, but its old pages were not scrubbed (run 'pbxtopo secrets reseal' again): %w", err)}
			}
			fmt.Fprintf(a.stdout, "scrubbed the store's free pages: %d -> %d bytes\n", res.Before, res.After)
		}
		return n, nil
	}
	needStore := func() error {
		dir := a.v.GetString("data-dir")
		if dir == "" {
			return usageErrorf("give the stopped agent's store with --data-dir DIR")
		}
		if _, err := os.Stat(storeFile(dir)); err != nil {
			return usageErrorf("no store in %s: give the agent's data_dir", dir)
		}
		return nil
	}
	var keepOld bool
	rotate := &cobra.Command{
		Use:   "rotate-key --key-file FILE --data-dir DIR [--keep-old]",
		Short: "Make a new current key and re-seal the stopped store with it",
		Long: `Offline, with the agent stopped: writes a new key first in the key file (the old ones
kept), re-seals every record and history entry of the store in bounded transactions, then
drops the old keys from the file (unless --keep-old). A crash midway leaves a file that holds
every key: run 'pbxtopo secrets reseal' then. Config values (enc:) sealed with the old key
must be sealed again with 'pbxtopo secrets seal' before the old key is dropped.

Every node of a Raft cluster needs the same key: stop them all, rotate on one with
--keep-old, copy the key file to the others, run 'pbxtopo secrets reseal --drop-old' on each
(the first one too), then start them.`,
		Example: "  pbxtopo secrets rotate-key --key-file /etc/pbxtopo/secrets.key --data-dir /var/lib/pbxtopo",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := file()
			if err != nil {
				return err
			}
			if err := needStore(); err != nil {
				return err
			}
			old, err := secrets.LoadFile(path)
			if err != nil {
				return userError{err}
			}
			k, err := secrets.NewKey()
			if err != nil {
				return err
			}
			keys := append([][]byte{k}, old.Keys()...)
			// The new key is on disk before any value is sealed with it.
			if err := secrets.WriteFile(path, keys); err != nil {
				return userError{fmt.Errorf("write %s: %w", path, err)}
			}
			kr, err := secrets.New(keys...)
			if err != nil {
				return err
			}
			n, err := reseal(cmd, kr)
			if err != nil {
				return err
			}
			if !keepOld {
				if err := secrets.WriteFile(path, [][]byte{k}); err != nil {
					return userError{fmt.Errorf("write %s: %w", path, err)}
				}
			}
			fmt.Fprintf(a.stdout, "new key %s is current; re-sealed %d values", secrets.KeyID(k), n)
			if keepOld {
				fmt.Fprintf(a.stdout, "; old keys %s kept\n", strings.Join(old.IDs(), ", "))
			} else {
				fmt.Fprintf(a.stdout, "; old keys %s dropped\n", strings.Join(old.IDs(), ", "))
			}
			return nil
		},
	}
	rotate.Flags().BoolVar(&keepOld, "keep-old", false, "keep the old keys in the file (for enc: config values not sealed again yet, or the other nodes of a Raft cluster)")
	var dropOld bool
	resealCmd := &cobra.Command{
		Use:   "reseal --key-file FILE --data-dir DIR [--drop-old]",
		Short: "Re-seal the stopped store with the key file's current key",
		Long: `Offline, with the agent stopped: re-seals every record and history entry that is sealed
with another key (or not sealed yet: a store written before a key was configured), in bounded
transactions. With --drop-old, the other keys are then removed from the key file.`,
		Example: "  pbxtopo secrets reseal --key-file /etc/pbxtopo/secrets.key --data-dir /var/lib/pbxtopo --drop-old",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := file()
			if err != nil {
				return err
			}
			if err := needStore(); err != nil {
				return err
			}
			kr, err := secrets.LoadFile(path)
			if err != nil {
				return userError{err}
			}
			n, err := reseal(cmd, kr)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "re-sealed %d values with key %s\n", n, kr.Current())
			if dropOld && len(kr.IDs()) > 1 {
				if err := secrets.WriteFile(path, kr.Keys()[:1]); err != nil {
					return userError{fmt.Errorf("write %s: %w", path, err)}
				}
				fmt.Fprintf(a.stdout, "dropped keys %s from %s\n", strings.Join(kr.IDs()[1:], ", "), path)
			}
			return nil
		},
	}
	resealCmd.Flags().BoolVar(&dropOld, "drop-old", false, "then remove every key but the current one from the key file")
	cmd.AddCommand(newKey, seal, rotate, resealCmd)
	return cmd
}
