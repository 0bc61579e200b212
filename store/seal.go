package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// SealedMark is the first byte of a value sealed at rest. Record values
// (pbx.Fields binary form) start with 0x01, so the two never collide.
const SealedMark = 0xE5

// ErrSealed: a value is sealed with a key this store was not given.
var ErrSealed = errors.New("value is sealed with a key this agent does not hold")

// Sealer encrypts record values at rest. The store calls it at the bbolt
// boundary only: values are sealed when a record or a log entry is written
// to the file and opened when read back, so everything above the store
// (replication, digests, the API) sees plaintext, and a backup (a copy of
// the file) holds only sealed values.
type Sealer interface {
	// Seal returns the stored form of the value of table/key: sealed
	// (starting with SealedMark) when it holds a secret, else unchanged.
	Seal(table, key string, value []byte) ([]byte, error)
	// Open returns the plaintext of a sealed value; err wraps ErrSealed
	// when its key is not held.
	Open(table, key string, stored []byte) ([]byte, error)
	// Current is the id of the key new values are sealed with.
	Current() string
	// Holds reports whether the key with this id is held.
	Holds(id string) bool
}

// kSealKeys lists (comma separated) the ids of the keys values in the
// file may be sealed with; Open refuses a store whose keys are not held.
var kSealKeys = []byte("seal_keys")

func sealedKeyID(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != SealedMark || int(v[1]) > len(v)-2 {
		return "", false
	}
	return string(v[2 : 2+int(v[1])]), true
}

// missingKeyError names the key config to fix.
func (s *Store) missingKeyError(id string) error {
	return fmt.Errorf("store %s: %w (key id %s): give the key with secrets.key_file or PBXTOPO_SECRETS_KEY (the old key too while a rotation is unfinished)", s.cfg.Path, ErrSealed, id)
}

// checkSealKeys runs at open: every key the file may be sealed with must
// be held.
func (s *Store) checkSealKeys(tx *bolt.Tx) error {
	ids := string(tx.Bucket(bMeta).Get(kSealKeys))
	for _, id := range strings.Split(ids, ",") {
		if id != "" && (s.cfg.Sealer == nil || !s.cfg.Sealer.Holds(id)) {
			return s.missingKeyError(id)
		}
	}
	return nil
}

// noteSealKey records the current key in kSealKeys before the first value
// sealed with it is written.
func (s *Store) noteSealKey(tx *bolt.Tx) error {
	if s.cfg.Sealer == nil {
		return nil
	}
	cur := s.cfg.Sealer.Current()
	m := tx.Bucket(bMeta)
	ids := string(m.Get(kSealKeys))
	for _, id := range strings.Split(ids, ",") {
		if id == cur {
			return nil
		}
	}
	if ids != "" {
		ids += ","
	}
	return m.Put(kSealKeys, []byte(ids+cur))
}

// sealValue returns the stored form of a value.
func (s *Store) sealValue(tx *bolt.Tx, table, key string, v []byte) ([]byte, error) {
	if s.cfg.Sealer == nil || len(v) == 0 {
		return v, nil
	}
	out, err := s.cfg.Sealer.Seal(table, key, v)
	if err != nil {
		return nil, fmt.Errorf("store: seal %s/%s: %w", table, key, err)
	}
	if len(out) > 0 && out[0] == SealedMark {
		if err := s.noteSealKey(tx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// openValue returns the plaintext of a stored value.
func (s *Store) openValue(table, key string, v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] != SealedMark {
		return v, nil
	}
	id, _ := sealedKeyID(v)
	if s.cfg.Sealer == nil || !s.cfg.Sealer.Holds(id) {
		return nil, s.missingKeyError(id)
	}
	out, err := s.cfg.Sealer.Open(table, key, v)
	if err != nil {
		// Never the value itself: only where and why.
		return nil, fmt.Errorf("store: open %s/%s: %w", table, key, err)
	}
	return out, nil
}

// encodeRecord returns the stored form of a record: a copy whose values are
// sealed. rec itself stays plaintext.
func (s *Store) encodeRecord(tx *bolt.Tx, rec *Record) ([]byte, error) {
	merged := rec.mergedValue()
	if s.cfg.Sealer == nil {
		return appendRecord(nil, rec, merged), nil
	}
	seal := func(v []byte) ([]byte, error) { return s.sealValue(tx, rec.Table, rec.Key, v) }
	c := *rec
	c.Versions = make([]Version, len(rec.Versions))
	for i, v := range rec.Versions {
		var err error
		if v.Value, err = seal(v.Value); err != nil {
			return nil, err
		}
		c.Versions[i] = v
	}
	if rec.lazy.loaded || rec.lazy.body == nil { // a graph kept encoded is sealed already
		c.Graph = make([]Node, len(rec.Graph))
		for i, n := range rec.Graph {
			var err error
			if n.Value, err = seal(n.Value); err != nil {
				return nil, err
			}
			c.Graph[i] = n
		}
	}
	merged, err := seal(merged)
	if err != nil {
		return nil, err
	}
	return appendRecord(nil, &c, merged), nil
}

// decodeRecord parses a stored record and opens its values.
func (s *Store) decodeRecord(table, key string, b []byte) (*Record, error) {
	r, err := parseRecord(table, key, b)
	if err != nil {
		return nil, err
	}
	r.lazy.open = func(v []byte) ([]byte, error) { return s.openValue(table, key, v) }
	for i := range r.Versions {
		if r.Versions[i].Value, err = s.openValue(table, key, r.Versions[i].Value); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// encodeLogEntry is appendLogEntry with the change's value sealed.
func (s *Store) encodeLogEntry(tx *bolt.Tx, ms int64, c *Change) ([]byte, error) {
	if s.cfg.Sealer == nil || len(c.Value) == 0 {
		return appendLogEntry(nil, ms, c), nil
	}
	sealed := *c
	var err error
	if sealed.Value, err = s.sealValue(tx, c.Table, c.Key, c.Value); err != nil {
		return nil, err
	}
	return appendLogEntry(nil, ms, &sealed), nil
}

// decodeLogEntryOpen is decodeLogEntry with the change's value opened.
func (s *Store) decodeLogEntryOpen(b []byte) (int64, *Change, error) {
	ms, c, err := decodeLogEntry(b)
	if err != nil {
		return ms, c, err
	}
	if c.Value, err = s.openValue(c.Table, c.Key, c.Value); err != nil {
		return ms, nil, err
	}
	return ms, c, nil
}

// ResealPage is how many records or log entries one transaction of
// Reseal rewrites: bounded so a rotation never holds the writer long.
const ResealPage = 2000

// Reseal rewrites every record and log entry whose value is sealed with a
// key other than the current one (or holds a secret and is not sealed
// yet), in transactions of at most ResealPage entries. Afterwards only the
// current key is needed, and the others may be dropped. It returns how
// many values were rewritten.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if s.cfg.Sealer == nil {
		return 0, fmt.Errorf("store %s: no key to seal with: set secrets.key_file or PBXTOPO_SECRETS_KEY", s.cfg.Path)
	}
	total := 0
	var tables []string
	if err := s.View(func(sn *Snapshot) error { tables = sn.Tables(); return nil }); err != nil {
		return 0, err
	}
	for _, t := range tables {
		after := []byte(nil)
		for {
			var n int
			var done bool
			err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
				n, done = 0, false
				b, _ := tableBucket(tx, t, false)
				if b == nil {
					done = true
					return nil
				}
				next, err := s.resealBucket(tx, b, after, func(k, v []byte) ([]byte, bool, error) {
					raw, err := DecodeRecord(t, string(k), v)
					if err != nil {
						return nil, false, fmt.Errorf("store: record %s/%s: %w", t, k, err)
					}
					vals := make([][]byte, len(raw.Versions))
					for i, ver := range raw.Versions {
						vals[i] = ver.Value
					}
					if !s.needsReseal(t, string(k), vals) {
						return nil, false, nil
					}
					r, err := s.decodeRecord(t, string(k), v)
					if err != nil {
						return nil, false, err
					}
					out, err := s.encodeRecord(tx, r)
					return out, true, err
				}, &n)
				after, done = next, next == nil
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if done {
				break
			}
		}
	}
	after := []byte(nil)
	for {
		var n int
		var done bool
		err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
			n = 0
			next, err := s.resealBucket(tx, tx.Bucket(bLog), after, func(k, v []byte) ([]byte, bool, error) {
				_, raw, err := decodeLogEntry(v)
				if err != nil {
					return nil, false, fmt.Errorf("store: log entry %d: %w", getU64(k), err)
				}
				if raw.Deleted || !s.needsReseal(raw.Table, raw.Key, [][]byte{raw.Value}) {
					return nil, false, nil
				}
				ms, c, err := s.decodeLogEntryOpen(v)
				if err != nil {
					return nil, false, fmt.Errorf("store: log entry %d: %w", getU64(k), err)
				}
				out, err := s.encodeLogEntry(tx, ms, c)
				return out, true, err
			}, &n)
			after, done = next, next == nil
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if done {
			break
		}
	}
	// Every value is now sealed with the current key (or holds no secret).
	err := s.do(ctx, func(tx *bolt.Tx, st *txState) error {
		return tx.Bucket(bMeta).Put(kSealKeys, []byte(s.cfg.Sealer.Current()))
	})
	return total, err
}

// needsReseal reports whether one of the stored values is sealed with a
// key other than the current one, or holds a secret and is not sealed.
func (s *Store) needsReseal(table, key string, stored [][]byte) bool {
	cur := s.cfg.Sealer.Current()
	for _, v := range stored {
		if len(v) == 0 {
			continue
		}
		if id, ok := sealedKeyID(v); ok {
			if id != cur {
				return true
			}
			continue
		}
		if out, err := s.cfg.Sealer.Seal(table, key, v); err == nil && len(out) > 0 && out[0] == SealedMark {
			return true
		}
	}
	return false
}

// resealBucket rewrites up to ResealPage entries of b after the key
// after; fn returns the new stored form when one is needed. It returns the
// last key visited, or nil at the end of the bucket.
func (s *Store) resealBucket(tx *bolt.Tx, b *bolt.Bucket, after []byte, fn func(k, v []byte) ([]byte, bool, error), n *int) ([]byte, error) {
	type put struct{ k, v []byte }
	var puts []put
	c := b.Cursor()
	k, v := c.First()
	if after != nil {
		k, v = c.Seek(after)
		if k != nil && string(k) == string(after) {
			k, v = c.Next()
		}
	}
	visited := 0
	var last []byte
	for ; k != nil && visited < ResealPage; k, v = c.Next() {
		visited++
		last = append([]byte(nil), k...)
		out, change, err := fn(k, v)
		if err != nil {
			return nil, err
		}
		if change {
			puts = append(puts, put{last, out})
		}
	}
	for _, p := range puts {
		if err := b.Put(p.k, p.v); err != nil {
			return nil, err
		}
	}
	*n = len(puts)
	if k == nil {
		return nil, nil
	}
	return last, nil
}
