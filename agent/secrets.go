package agent

import (
	"github.com/pbxtopo/pbxtopo/secrets"
	"github.com/pbxtopo/pbxtopo/store"
)

// loadSecrets loads the keyring of secrets.key_file or secrets.key
// (PBXTOPO_SECRETS_KEY), gives it to the store so secret values are sealed
// at rest, and opens the "enc:" values of the config (mysql.dsn).
func (a *Agent) loadSecrets(sc *store.Config) error {
	kr, err := secrets.Load(a.cfg.Secrets.KeyFile, a.cfg.Secrets.Key)
	if err != nil {
		return err
	}
	a.keys = kr
	if kr != nil {
		sc.Sealer = kr
		a.log.Info("secrets are sealed at rest", "key_id", kr.Current(), "keys_held", len(kr.IDs()))
	}
	a.cfg.MySQL.DSN, err = secrets.OpenString(kr, "mysql.dsn", a.cfg.MySQL.DSN)
	return err
}

// Keyring returns the keys the agent seals secrets with, or nil.
func (a *Agent) Keyring() *secrets.Keyring { return a.keys }
