// Package secrets keeps secrets encrypted at rest: the Keyring of
// AES-256-GCM keys an agent holds (from secrets.key_file or
// PBXTOPO_SECRETS_KEY), the store.Sealer that seals the secret fields'
// records (SIP secrets, voicemail PINs, trunk secrets) in the store, its
// log and its backups, and "enc:" values for passwords in the config file.
//
// A sealed value names the id of its key, so a keyring may hold several
// keys while a rotation re-seals the store (store.Reseal); the first key is
// the current one, used for every new seal.
package secrets
