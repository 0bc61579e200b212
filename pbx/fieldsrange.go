package pbx

import (
	"encoding/binary"
	"fmt"
)

// RangeFields calls fn with each field of a record's binary form, in the
// order stored (name order), without decoding it into a map: a reader that
// needs a few fields of every record (a hash of some, say) allocates
// nothing. value is only valid during the call. A newer agent's field is
// named "#CODE". It returns an error when the form is cut short.
func RangeFields(b []byte, fn func(name string, value []byte)) error {
	if len(b) < 2 || b[0] != fieldsFormat {
		return errFieldsTruncated
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)) {
		return errFieldsTruncated
	}
	b = b[1+k:]
	for i := uint64(0); i < n; i++ {
		code, k := binary.Uvarint(b)
		if k <= 0 {
			return errFieldsTruncated
		}
		b = b[k:]
		var name string
		if code == 0 {
			raw, rest, ok := cutString(b)
			if !ok {
				return errFieldsTruncated
			}
			name, b = string(raw), rest
		} else {
			name = dictName(code)
		}
		v, rest, ok := cutString(b)
		if !ok {
			return errFieldsTruncated
		}
		b = rest
		fn(name, v)
	}
	if len(b) != 0 {
		return fmt.Errorf("record has %d trailing bytes", len(b))
	}
	return nil
}
