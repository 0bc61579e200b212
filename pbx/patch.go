package pbx

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNewerFields: a record carries fields a newer pbxtopo added, so this
// one cannot re-encode it after a change.
var ErrNewerFields = errors.New("the record carries fields a newer pbxtopo added")

// ErrKeyChange: a patch would change a record's key fields.
var ErrKeyChange = errors.New("a change may not alter the record's key")

// ApplyPatch sets the fields of patch over cur (an empty value clears a
// field), drops status fields, and validates the result against the
// catalog: the record a `set` makes. The store runs it inside the write
// transaction, on the record current there, so a concurrent change of
// another field is never written back over; every node of a Raft cluster
// runs it on the same state and gets the same result. Tables the model
// does not know are merged without validation.
func ApplyPatch(table, key string, cur, patch Fields, cat Catalog) (Fields, error) {
	merged := cur.Clone()
	for k, v := range patch {
		merged[k] = v
	}
	t, err := LookupTable(table)
	if err != nil {
		return merged.Compact(), nil
	}
	if u := merged.UnknownFields(); len(u) > 0 {
		return nil, fmt.Errorf("%s %s carries fields a newer pbxtopo added (%s); this agent keeps and replicates them but cannot change the record: upgrade this agent, or change it through an upgraded one: %w",
			t.Noun, key, strings.Join(u, ", "), ErrNewerFields)
	}
	for _, k := range t.Key {
		if v, ok := patch[k]; ok && v != cur[k] {
			return nil, fmt.Errorf("%s %s: %s cannot change from %q to %q (it is part of the key; move the record instead): %w", t.Noun, key, k, cur[k], v, ErrKeyChange)
		}
	}
	config, _ := t.SplitStatus(merged)
	return t.Prepare(config, cat)
}
