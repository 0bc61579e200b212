package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/spf13/cobra"
)

// defaultKeyDir is Asterisk's astkeydir.
const defaultKeyDir = "/var/lib/asterisk/keys"

func (a *app) dundiKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Make and rotate a cluster's DUNDi RSA key pair (pbxtopo-CLUSTER.key/.pub)",
		Long: `The generated dundi.conf names the keys pbxtopo-CLUSTER (outkey: this cluster's private key;
inkey: each peer's public key). 'create' makes the pair in Asterisk's format (1024-bit RSA, PEM,
as astgenkey -n), 'rotate' replaces it and keeps the previous pair as .key.old/.pub.old (Asterisk
does not load those). Files are written atomically; the .key gets mode 0600. Copy the .pub to
the key directory of every other cluster, then run 'module reload res_crypto.so' there (Asterisk
22 loads new keys on that reload; 'keys init' does not). --reload does it here over AMI.`,
	}
	var cluster, dir string
	var reload bool
	flags := func(c *cobra.Command) {
		c.Flags().StringVar(&cluster, "cluster", "", "the cluster whose key pair to make")
		c.Flags().StringVar(&dir, "dir", defaultKeyDir, "Asterisk's key directory")
		c.Flags().BoolVar(&reload, "reload", false, "then reload res_crypto.so over AMI (ami.*) so this Asterisk loads the pair")
		a.bindAMIFlags(c, "ami.addr", "ami.user", "ami.secret", "ami.log_file")
	}
	paths := func() (key, pub string, err error) {
		if !pbx.IsLabel(cluster) {
			return "", "", usageErrorf("--cluster %q: give the cluster name (lower-case letters, digits, '-')", cluster)
		}
		base := filepath.Join(dir, dundi.KeyName(cluster))
		return base + ".key", base + ".pub", nil
	}
	write := func(keyPath, pubPath string) error {
		priv, pub, err := dundi.GenerateKeyPair(rand.Reader)
		if err != nil {
			return err
		}
		// The public half first: a peer never sees a .pub whose .key is
		// missing here, and the .key is replaced in one rename.
		if err := secrets.WriteAtomic(pubPath, pub, 0o644); err != nil {
			return userError{fmt.Errorf("write %s: %w", pubPath, err)}
		}
		if err := secrets.WriteAtomic(keyPath, priv, 0o600); err != nil {
			return userError{fmt.Errorf("write %s: %w", keyPath, err)}
		}
		k, err := dundi.LoadPublicKey(pubPath)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("wrote %s (0600) and %s\nfingerprint sha256:%s\ncopy %s to the key directory of every other cluster, then run 'asterisk -rx \"module reload res_crypto.so\"' there\n",
			keyPath, pubPath, dundi.Fingerprint(k), filepath.Base(pubPath))
		if !reload {
			text += "and here: Asterisk loads new keys on 'module reload res_crypto.so' (or give --reload)\n"
		}
		if err := a.report(map[string]any{"key": keyPath, "pub": pubPath, "fingerprint": "sha256:" + dundi.Fingerprint(k), "reloaded": reload}, text); err != nil || !reload {
			return err
		}
		return a.reloadModule(a.ctx, "res_crypto.so")
	}
	create := &cobra.Command{
		Use:     "create --cluster C [--dir DIR]",
		Short:   "Make the cluster's key pair; refuses to overwrite one",
		Example: "  pbxtopo dundi keys create --cluster tpa1 --dir /var/lib/asterisk/keys",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keyPath, pubPath, err := paths()
			if err != nil {
				return err
			}
			for _, p := range []string{keyPath, pubPath} {
				if _, err := os.Stat(p); err == nil {
					return usageErrorf("%s exists: replace the pair with 'pbxtopo dundi keys rotate --cluster %s'", p, cluster)
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return userError{err}
			}
			return write(keyPath, pubPath)
		},
	}
	rotate := &cobra.Command{
		Use:     "rotate --cluster C [--dir DIR]",
		Short:   "Replace the cluster's key pair, keeping the previous one as .old",
		Example: "  pbxtopo dundi keys rotate --cluster tpa1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keyPath, pubPath, err := paths()
			if err != nil {
				return err
			}
			old := map[string][]byte{}
			for _, p := range []string{keyPath, pubPath} {
				b, err := os.ReadFile(p)
				if errors.Is(err, os.ErrNotExist) {
					return usageErrorf("%s does not exist: make the pair with 'pbxtopo dundi keys create --cluster %s'", p, cluster)
				}
				if err != nil {
					return userError{err}
				}
				old[p] = b
			}
			if err := secrets.WriteAtomic(keyPath+".old", old[keyPath], 0o600); err != nil {
				return userError{err}
			}
			if err := secrets.WriteAtomic(pubPath+".old", old[pubPath], 0o644); err != nil {
				return userError{err}
			}
			return write(keyPath, pubPath)
		},
	}
	flags(create)
	flags(rotate)
	cmd.AddCommand(create, rotate)
	return cmd
}
