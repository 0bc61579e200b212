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

	var keepOld bool
	rotate := &cobra.Command{
		Use:   "rotate-key --key-file FILE --data-dir DIR",
		Short: "Make a new current key and re-seal the stopped store with it",
		Long: `Offline, with the agent stopped: writes a new key first in the key file (the old ones
kept), re-seals every record and history entry of the store in bounded transactions, then
drops the old keys from the file (unless --keep-old). A crash midway leaves a file that holds
both keys; run it again. Config values (enc:) sealed with the old key must be sealed again
with 'pbxtopo secrets seal' before the old key is dropped; use --keep-old until then.
Every node of a Raft cluster shares the key (a follower installs the leader's snapshot).`,
		Example: "  pbxtopo secrets rotate-key --key-file /etc/pbxtopo/secrets.key --data-dir /var/lib/pbxtopo",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := file()
			if err != nil {
				return err
			}
			dir := a.v.GetString("data-dir")
			if dir == "" {
				return usageErrorf("give the stopped agent's store with --data-dir DIR")
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
			cfg := store.DefaultConfig(storeFile(dir))
			cfg.Sealer = kr
			if _, err := os.Stat(cfg.Path); err != nil {
				return usageErrorf("no store in %s: give the agent's data_dir", dir)
			}
			st, err := store.Open(cfg)
			if err != nil {
				return userError{err}
			}
			n, err := st.Reseal(cmd.Context())
			if cerr := st.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return userError{fmt.Errorf("re-seal stopped after part of the store (run again; the key file holds both keys): %w", err)}
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
	rotate.Flags().BoolVar(&keepOld, "keep-old", false, "keep the old keys in the file (for enc: config values not sealed again yet)")
	cmd.AddCommand(newKey, seal, rotate)
	return cmd
}
