package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/pbxtopo/pbxtopo/internal/atomicfile"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

const nonceSize = 12

// Errors callers test with errors.Is.
var (
	// ErrBadKey: a key text is not a base64 key of KeySize bytes.
	ErrBadKey = errors.New("bad secrets key")
	// ErrNoKey: the value was sealed with a key the keyring lacks.
	ErrNoKey = store.ErrSealed
	// ErrTampered: the sealed value does not authenticate.
	ErrTampered = errors.New("sealed value does not authenticate (wrong key, or altered)")
)

type key struct {
	id   string
	raw  []byte
	aead cipher.AEAD
}

// Keyring is the set of keys an agent holds; the first is the current
// one. It is safe for concurrent use, and Set swaps the keys at run time
// (an online rotation).
type Keyring struct {
	mu   sync.RWMutex
	keys []key
	// secretFields caches, per table, the names of its secret fields.
	secretFields sync.Map
}

var _ store.Sealer = (*Keyring)(nil)

// NewKey returns a new random key.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("secrets: new key: %w", err)
	}
	return k, nil
}

// KeyID is the id a key is known by: the first 4 bytes of its SHA-256, in
// hex. It names a key in errors and in sealed values without revealing it.
func KeyID(k []byte) string {
	h := sha256.Sum256(k)
	return hex.EncodeToString(h[:4])
}

// New returns a keyring of the given keys, the first current.
func New(keys ...[]byte) (*Keyring, error) {
	kr := &Keyring{}
	if err := kr.Set(keys...); err != nil {
		return nil, err
	}
	return kr, nil
}

// Set replaces the keys; the first becomes current.
func (kr *Keyring) Set(keys ...[]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: no key given", ErrBadKey)
	}
	var out []key
	for i, k := range keys {
		if len(k) != KeySize {
			return fmt.Errorf("%w: key %d is %d bytes, want %d (make one with 'pbxtopo secrets new-key')", ErrBadKey, i+1, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		out = append(out, key{id: KeyID(k), raw: append([]byte(nil), k...), aead: aead})
	}
	kr.mu.Lock()
	kr.keys = out
	kr.mu.Unlock()
	return nil
}

// Keys returns copies of the raw keys, the current first.
func (kr *Keyring) Keys() [][]byte {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	out := make([][]byte, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = append([]byte(nil), k.raw...)
	}
	return out
}

// IDs returns the ids of the keys held, the current first.
func (kr *Keyring) IDs() []string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	out := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = k.id
	}
	return out
}

// Current is the id of the key new values are sealed with.
func (kr *Keyring) Current() string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.keys[0].id
}

// Holds reports whether the key with this id is held.
func (kr *Keyring) Holds(id string) bool {
	_, ok := kr.find(id)
	return ok
}

func (kr *Keyring) find(id string) (key, bool) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, k := range kr.keys {
		if k.id == id {
			return k, true
		}
	}
	return key{}, false
}

// SealBytes seals b with the current key, bound to aad: the mark, the key
// id, a random nonce and the ciphertext.
func (kr *Keyring) SealBytes(b, aad []byte) ([]byte, error) {
	kr.mu.RLock()
	k := kr.keys[0]
	kr.mu.RUnlock()
	out := make([]byte, 0, 2+len(k.id)+nonceSize+len(b)+k.aead.Overhead())
	out = append(out, store.SealedMark, byte(len(k.id)))
	out = append(out, k.id...)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secrets: nonce: %w", err)
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, b, aad), nil
}

// OpenBytes opens a value made by SealBytes with the same aad.
func (kr *Keyring) OpenBytes(v, aad []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != store.SealedMark || int(v[1]) > len(v)-2 {
		return nil, fmt.Errorf("%w: not a sealed value", ErrTampered)
	}
	id := string(v[2 : 2+int(v[1])])
	k, ok := kr.find(id)
	if !ok {
		return nil, fmt.Errorf("%w (key id %q): give it with secrets.key_file or PBXTOPO_SECRETS_KEY", ErrNoKey, id)
	}
	rest := v[2+int(v[1]):]
	if len(rest) < nonceSize+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: truncated", ErrTampered)
	}
	out, err := k.aead.Open(nil, rest[:nonceSize], rest[nonceSize:], aad)
	if err != nil {
		return nil, ErrTampered
	}
	return out, nil
}

// recordAAD binds a sealed record value to its place, so a sealed value
// copied onto another record does not open.
func recordAAD(table, rkey string) []byte { return []byte("record\x00" + table + "\x00" + rkey) }

// Seal implements store.Sealer: a value that holds a non-empty secret
// field of its table's schema is sealed whole; any other value is
// returned unchanged.
func (kr *Keyring) Seal(table, rkey string, value []byte) ([]byte, error) {
	if !kr.holdsSecret(table, value) {
		return value, nil
	}
	return kr.SealBytes(value, recordAAD(table, rkey))
}

// Open implements store.Sealer.
func (kr *Keyring) Open(table, rkey string, stored []byte) ([]byte, error) {
	if len(stored) == 0 || stored[0] != store.SealedMark {
		return stored, nil
	}
	return kr.OpenBytes(stored, recordAAD(table, rkey))
}

func (kr *Keyring) holdsSecret(table string, value []byte) bool {
	names, ok := kr.secretFields.Load(table)
	if !ok {
		var list []string
		if t, err := pbx.LookupTable(table); err == nil {
			for _, f := range t.Fields {
				if f.Secret {
					list = append(list, f.Name)
				}
			}
		}
		names, _ = kr.secretFields.LoadOrStore(table, list)
	}
	for _, n := range names.([]string) {
		if v, ok := pbx.LookupField(value, n); ok && v != "" {
			return true
		}
	}
	return false
}

// Parse reads keys from text: base64 keys separated by newlines or commas,
// '#' starting a comment; the first is current. Errors never quote a key.
func Parse(text, source string) (*Keyring, error) {
	var keys [][]byte
	for i, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' }) {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) != KeySize {
			return nil, fmt.Errorf("%s: entry %d: %w: want a base64 key of %d bytes (make one with 'pbxtopo secrets new-key')", source, i+1, ErrBadKey, KeySize)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w: no key in it (make one with 'pbxtopo secrets new-key')", source, ErrBadKey)
	}
	return New(keys...)
}

// Format returns the key file text for keys, the current first.
func Format(keys [][]byte) string {
	var b strings.Builder
	b.WriteString("# pbxtopo secrets keys: the first is current; keep this file mode 0600\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s # id %s\n", base64.StdEncoding.EncodeToString(k), KeyID(k))
	}
	return b.String()
}

// LoadFile reads a key file. It refuses one that others may read.
func LoadFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets.key_file %s has mode %#o: others may read it; chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets.key_file: %w", err)
	}
	return Parse(string(b), "secrets.key_file "+path)
}

// Load returns the keyring of the agent: from the key file when set, else
// from the key text (PBXTOPO_SECRETS_KEY); nil when neither is set.
func Load(keyFile, keyText string) (*Keyring, error) {
	switch {
	case keyFile != "" && keyText != "":
		return nil, fmt.Errorf("both secrets.key_file and secrets.key (PBXTOPO_SECRETS_KEY) are set: keep one")
	case keyFile != "":
		return LoadFile(keyFile)
	case keyText != "":
		return Parse(keyText, "PBXTOPO_SECRETS_KEY")
	}
	return nil, nil
}

// WriteFile writes a key file atomically with mode 0600.
func WriteFile(path string, keys [][]byte) error {
	return WriteAtomic(path, []byte(Format(keys)), 0o600)
}

// WriteAtomic writes data to path through a temporary file in the same
// directory, synced and renamed, so a reader sees the old or the new file.
func WriteAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.WriteFile(path, data, mode)
}

// EncPrefix starts a config value sealed with SealString.
const EncPrefix = "enc:"

var configAAD = []byte("config")

// SealString returns plain sealed as an "enc:" config value.
func (kr *Keyring) SealString(plain string) (string, error) {
	b, err := kr.SealBytes([]byte(plain), configAAD)
	if err != nil {
		return "", err
	}
	return EncPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// OpenString returns the plaintext of an "enc:" config value, and any
// other value unchanged. name is the config key, for the error.
func OpenString(kr *Keyring, name, v string) (string, error) {
	if !strings.HasPrefix(v, EncPrefix) {
		return v, nil
	}
	if kr == nil {
		return "", fmt.Errorf("%s is sealed (enc:): give the key with secrets.key_file or PBXTOPO_SECRETS_KEY", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(v, EncPrefix))
	if err != nil {
		return "", fmt.Errorf("%s: the enc: value is not valid base64: make it again with 'pbxtopo secrets seal'", name)
	}
	out, err := kr.OpenBytes(b, configAAD)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return string(out), nil
}
