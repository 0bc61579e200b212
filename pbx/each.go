package pbx

import (
	"encoding/binary"
)

// EachField calls fn for every field of a record in binary form, in name
// order, until fn returns false. The value is only valid during the call.
// It reads the record once without decoding it into a map, so a reader
// that needs a dozen fields of 100,000 records (the audits) pays for one
// pass instead of a dozen lookups. It returns false when the record is
// malformed (fields before the damage have been seen). A field a newer
// pbxtopo added is passed as "#CODE" (UnknownFieldPrefix).
func EachField(b []byte, fn func(name string, value []byte) bool) bool {
	if len(b) < 2 || b[0] != fieldsFormat {
		return false
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)) {
		return false
	}
	b = b[1+k:]
	for i := uint64(0); i < n; i++ {
		code, k := binary.Uvarint(b)
		if k <= 0 {
			return false
		}
		b = b[k:]
		var name string
		switch {
		case code == 0:
			raw, rest, ok := cutString(b)
			if !ok {
				return false
			}
			name, b = string(raw), rest
		default:
			name = dictName(code) // "#CODE" for a newer agent's field
		}
		v, rest, ok := cutString(b)
		if !ok {
			return false
		}
		b = rest
		if !fn(name, v) {
			return true
		}
	}
	return len(b) == 0
}
