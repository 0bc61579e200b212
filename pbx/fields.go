package pbx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/pbxtopo/pbxtopo/internal/wire"
)

// Fields is one record as named string values: the column names of the
// guide's tables mapped to their values. Every table of the model uses it,
// so codecs, validation and the store treat all tables alike, and fields an
// older agent does not know survive a round trip untouched.
type Fields map[string]string

// Clone returns a copy that shares nothing with f.
func (f Fields) Clone() Fields {
	c := make(Fields, len(f))
	for k, v := range f {
		c[k] = v
	}
	return c
}

// Names returns the field names in ascending order.
func (f Fields) Names() []string {
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Equal reports whether f and g hold the same non-empty values. An empty
// value and an absent field mean the same thing (the field's default).
func (f Fields) Equal(g Fields) bool {
	for k, v := range f {
		if g[k] != v {
			return false
		}
	}
	for k, v := range g {
		if f[k] != v {
			return false
		}
	}
	return true
}

// Compact drops empty values, so that "absent" has one representation.
func (f Fields) Compact() Fields {
	for k, v := range f {
		if v == "" {
			delete(f, k)
		}
	}
	return f
}

// fieldsFormat is the first byte of the binary form; a new layout gets a new
// byte so older data stays readable.
const fieldsFormat = 0x01

// maxFieldsLen bounds a decoded record; the largest legitimate record (an
// extension with every text field full) is far below it.
const maxFieldsLen = 1 << 20

var (
	errFieldsTruncated = errors.New("record truncated")
	errFieldsFormat    = errors.New("unknown record format")
)

// AppendBinary appends the binary form of f to b: a format byte, the count,
// then each field in ascending name order: its name (the number of a
// dictionary name, or 0 and the name spelled out) and its value with a
// uvarint length. Empty values are left out. The same fields always give
// the same bytes.
func (f Fields) AppendBinary(b []byte) []byte {
	if out, ok := f.appendDictionary(b); ok {
		return out
	}
	return f.appendSorted(b)
}

// appendSorted is AppendBinary for any record: it sorts the names.
func (f Fields) appendSorted(b []byte) []byte {
	names := make([]string, 0, len(f))
	size := 4
	for k, v := range f {
		if v != "" {
			names = append(names, k)
			size += len(v) + 3
			if fieldCode[k] == 0 {
				size += len(k) + 2
			}
		}
	}
	sort.Strings(names)
	if b == nil {
		b = make([]byte, 0, size)
	}
	b = append(b, fieldsFormat)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendName(b, k)
		v := f[k]
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// maxDictionaryFields bounds the records appendDictionary encodes: its
// work arrays live on the stack.
const maxDictionaryFields = 48

// appendDictionary is AppendBinary for a record whose fields are all in
// the dictionary (every record this agent writes, unless it carries a
// newer agent's field): it orders the fields by their names' ranks, small
// integers, instead of sorting the names, which was most of the cost of
// encoding a record. It reports false, having appended nothing, for any
// other record.
func (f Fields) appendDictionary(b []byte) ([]byte, bool) {
	var ranks [maxDictionaryFields]uint8
	n, size := 0, 4
	for k, v := range f {
		if v == "" {
			continue
		}
		code := fieldCode[k]
		if code == 0 || n == maxDictionaryFields {
			return b, false
		}
		// Insertion in rank order: at most a few dozen fields.
		r := dictRank[code-1]
		i := n
		for ; i > 0 && ranks[i-1] > r; i-- {
			ranks[i] = ranks[i-1]
		}
		ranks[i] = r
		n++
		size += len(v) + 3
	}
	if b == nil {
		b = make([]byte, 0, size)
	}
	b = append(b, fieldsFormat)
	b = binary.AppendUvarint(b, uint64(n))
	for _, r := range ranks[:n] {
		code := dictByRank[r]
		v := f[fieldDictionary[code-1]]
		b = binary.AppendUvarint(b, code)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b, true
}

// MarshalBinary returns the binary form of f.
func (f Fields) MarshalBinary() ([]byte, error) { return f.AppendBinary(nil), nil }

// UnmarshalBinary replaces f's contents with the decoded b.
func (f *Fields) UnmarshalBinary(b []byte) error {
	d, err := DecodeFields(b)
	if err != nil {
		return err
	}
	*f = d
	return nil
}

// UnknownFieldPrefix names a field a newer pbxtopo added to the field
// dictionary: "#70" is dictionary code 70, unknown to this agent. Such
// fields are kept, shown and replicated verbatim; writes that would
// re-encode the record are refused until the agent is upgraded.
const UnknownFieldPrefix = "#"

// IsUnknownField reports whether name stands for a newer agent's field.
func IsUnknownField(name string) bool {
	if len(name) < 2 || name[0] != '#' {
		return false
	}
	n, err := strconv.ParseUint(name[1:], 10, 64)
	return err == nil && n > uint64(len(fieldDictionary)) && strconv.FormatUint(n, 10) == name[1:]
}

// UnknownFields lists the fields of f that a newer pbxtopo added.
func (f Fields) UnknownFields() []string {
	var out []string
	for k := range f {
		if IsUnknownField(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// DecodeFields parses the binary form made by AppendBinary. Any input gives
// fields or an error, never a panic.
func DecodeFields(b []byte) (Fields, error) { return decodeFields(b, false) }

// DecodeFieldsTogether is DecodeFields with every value a piece of one
// copy of b: one allocation for a record's values instead of one each,
// for records decoded whole and dropped whole (a listing's page). A value
// kept alone keeps the whole record in memory: indexes of a few fields of
// many records use DecodeFields.
func DecodeFieldsTogether(b []byte) (Fields, error) { return decodeFields(b, true) }

func decodeFields(b []byte, together bool) (Fields, error) {
	if len(b) > maxFieldsLen {
		return nil, fmt.Errorf("record is %d bytes, the limit is %d", len(b), maxFieldsLen)
	}
	it, err := newFieldIter(b)
	if err != nil {
		return nil, err
	}
	if together && len(it.b) > 0 {
		it.src, it.size = string(it.b), len(it.b)
	}
	f := make(Fields, it.n)
	prev := ""
	for i := 0; it.next(); i++ {
		if it.value == "" {
			return nil, fmt.Errorf("record field %q is empty (empty values are not stored)", it.name)
		}
		if _, dup := f[it.name]; dup {
			return nil, fmt.Errorf("record field %q appears twice", it.name)
		}
		f[it.name] = it.value
		// Names are in order; a newer agent's field (#CODE) sorts by a name
		// this agent does not know, so it is exempt.
		if IsUnknownField(it.name) {
			continue
		}
		if i > 0 && prev != "" && it.name <= prev {
			return nil, fmt.Errorf("record field %q out of order after %q", it.name, prev)
		}
		prev = it.name
	}
	if it.err != nil {
		return nil, it.err
	}
	return f, nil
}

// LookupField returns one field's value straight from the binary form,
// without decoding the rest. Listing 100,000 extensions by group reads one
// field of each, so this is the hot path of every filter.
func LookupField(b []byte, name string) (string, bool) {
	v, ok := lookupRaw(b, name)
	if !ok {
		return "", false
	}
	return string(v), true
}

// HasField reports whether the field's value equals want (ASCII case
// folded), without allocating.
func HasField(b []byte, name, want string) bool {
	v, ok := lookupRaw(b, name)
	return ok && bytes.EqualFold(v, []byte(want))
}

// lookupRaw scans the binary form for one field without allocating: the
// hot path of every filter over a large table.
func lookupRaw(b []byte, name string) ([]byte, bool) {
	if len(b) < 2 || b[0] != fieldsFormat {
		return nil, false
	}
	want := fieldCode[name]
	n, k := binary.Uvarint(b[1:])
	if k <= 0 {
		return nil, false
	}
	b = b[1+k:]
	for i := uint64(0); i < n; i++ {
		code, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, false
		}
		b = b[k:]
		var fname, v []byte
		var ok bool
		if code == 0 {
			if fname, b, ok = cutString(b); !ok {
				return nil, false
			}
		} else if code > uint64(len(fieldDictionary)) {
			// A newer agent's field: "#CODE", skipped by other lookups.
			if v, b, ok = cutString(b); !ok {
				return nil, false
			}
			if len(name) > 1 && name[0] == '#' && name[1:] == strconv.FormatUint(code, 10) {
				return v, true
			}
			continue
		}
		if v, b, ok = cutString(b); !ok {
			return nil, false
		}
		switch {
		case code != 0 && code == want, code == 0 && string(fname) == name:
			return v, true
		}
	}
	return nil, false
}

func cutString(b []byte) (s, rest []byte, ok bool) {
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(l)], b[k+int(l):], true
}

type fieldIter struct {
	b           []byte
	n           uint64
	i           uint64
	name, value string
	code        uint64 // name's dictionary code; 0: spelled out
	err         error
	// src, when set, is b copied once, whole: each value is a piece of
	// it (DecodeFieldsTogether).
	src  string
	size int // len(b) at the start: b's offset in src is size-len(b)
}

// newFieldIter returns the iterator by value, so that it can stay on
// the caller's stack (a listing's page makes one per record).
func newFieldIter(b []byte) (fieldIter, error) {
	if len(b) == 0 {
		return fieldIter{}, errFieldsTruncated
	}
	if b[0] != fieldsFormat {
		return fieldIter{}, fmt.Errorf("%w %#x", errFieldsFormat, b[0])
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || k != wire.UvarintLen(n) {
		return fieldIter{}, errFieldsTruncated
	}
	// Each field takes at least two bytes, which bounds n by the input.
	if n > uint64(len(b)) {
		return fieldIter{}, fmt.Errorf("record claims %d fields in %d bytes", n, len(b))
	}
	return fieldIter{b: b[1+k:], n: n}, nil
}

func (it *fieldIter) next() bool {
	if it.err != nil || it.i == it.n {
		if it.err == nil && it.i == it.n && len(it.b) != 0 {
			it.err = fmt.Errorf("record has %d trailing bytes", len(it.b))
		}
		return false
	}
	name, ok := it.name_()
	if !ok {
		return false
	}
	value, ok := it.str()
	if !ok {
		return false
	}
	it.name, it.value = name, value
	it.i++
	return true
}

// name_ reads a field name: a dictionary code, or 0 and the name spelled out.
func (it *fieldIter) name_() (string, bool) {
	code, k := binary.Uvarint(it.b)
	if k <= 0 || k != wire.UvarintLen(code) {
		it.err = errFieldsTruncated
		return "", false
	}
	it.b = it.b[k:]
	it.code = code
	if code == 0 {
		name, ok := it.str()
		if ok && IsUnknownField(name) {
			it.err = fmt.Errorf("record spells out the field number %q", name)
			return "", false
		}
		if ok && fieldCode[name] != 0 {
			it.err = fmt.Errorf("record spells out the dictionary field %q", name)
			return "", false
		}
		if ok && name == "" {
			it.err = errors.New("record has a field without a name")
			return "", false
		}
		return name, ok
	}
	return dictName(code), true
}

func (it *fieldIter) str() (string, bool) {
	l, k := binary.Uvarint(it.b)
	// A length must be in its shortest form, so one record has one encoding.
	if k <= 0 || k != wire.UvarintLen(l) || l > uint64(len(it.b)-k) {
		it.err = errFieldsTruncated
		return "", false
	}
	var s string
	if it.size > 0 {
		at := it.size - len(it.b) + k
		s = it.src[at : at+int(l)]
	} else {
		s = string(it.b[k : k+int(l)])
	}
	it.b = it.b[k+int(l):]
	return s, true
}

// appendName appends a field name: its dictionary number, the number of
// a newer agent's field ("#70"), or 0 and the name spelled out.
func appendName(b []byte, k string) []byte {
	code := fieldCode[k]
	if IsUnknownField(k) {
		code, _ = strconv.ParseUint(k[len(UnknownFieldPrefix):], 10, 64)
	}
	b = binary.AppendUvarint(b, code)
	if code == 0 {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

// dictName is the name of a dictionary number that is not 0: a known
// field, or "#CODE" for a field a newer pbxtopo added, so that it is
// shown and never silently dropped.
func dictName(code uint64) string {
	if code > uint64(len(fieldDictionary)) {
		return UnknownFieldPrefix + strconv.FormatUint(code, 10)
	}
	return fieldDictionary[code-1]
}
