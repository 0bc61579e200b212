package pbx

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// MarshalJSON writes f as a JSON object with its names in ascending order,
// as encoding/json does for a map, but several times faster: listings of
// thousands of records spend most of their time here.
func (f Fields) MarshalJSON() ([]byte, error) { return f.AppendJSON(nil), nil }

// AppendJSON appends what MarshalJSON returns to b: a listing writes its
// rows into one buffer, and encoding/json does not scan them again (it
// re-validates and copies whatever a MarshalJSON returns).
func (f Fields) AppendJSON(b []byte) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	var names [96]string
	keys := names[:0]
	size := 2
	for k, v := range f {
		keys = append(keys, k)
		size += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b = slices.Grow(b, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, f[k])
	}
	return append(b, '}')
}

// UnmarshalJSON decodes a JSON object of strings, as encoding/json does
// into a map, about twice as fast (BenchmarkFieldsJSON). Anything
// else (null, a value that is not a string, a \u escape of a surrogate,
// invalid UTF-8) goes to encoding/json, so the result and the errors are
// its own.
func (f *Fields) UnmarshalJSON(data []byte) error {
	var pairs [2 * 96]string
	kv, ok := parsePlainObject(data, pairs[:0])
	if !ok {
		return json.Unmarshal(data, (*map[string]string)(f))
	}
	if *f == nil {
		*f = make(Fields, len(kv)/2)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		(*f)[kv[i]] = kv[i+1]
	}
	return nil
}

// parsePlainObject appends the names and values of data, a JSON object
// whose names and values are all strings without escapes, to kv; ok is
// false for anything else.
func parsePlainObject(data []byte, kv []string) ([]string, bool) {
	i := skipJSONSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipJSONSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return kv, skipJSONSpace(data, i+1) == len(data)
	}
	for {
		var name, value string
		var ok bool
		if name, i, ok = plainString(data, i); !ok {
			return nil, false
		}
		if i = skipJSONSpace(data, i); i >= len(data) || data[i] != ':' {
			return nil, false
		}
		if value, i, ok = plainString(data, skipJSONSpace(data, i+1)); !ok {
			return nil, false
		}
		kv = append(kv, name, value)
		if i = skipJSONSpace(data, i); i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipJSONSpace(data, i+1)
		case '}':
			return kv, skipJSONSpace(data, i+1) == len(data)
		default:
			return nil, false
		}
	}
}

// plainString reads the JSON string at data[i:] and returns the index
// after its closing quote. It takes the escapes AppendJSON writes (\",
// \\, \n, \u003c...) and valid UTF-8; ok is false for anything else (a
// \u escape of a surrogate, invalid UTF-8, a control character).
func plainString(data []byte, i int) (s string, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return "", 0, false
	}
	start := i + 1
	ascii := true
	for i = start; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			raw := data[start:i]
			if !ascii && !utf8.Valid(raw) {
				return "", 0, false
			}
			return string(raw), i + 1, true
		case c == '\\':
			return escapedString(data, start)
		case c < 0x20:
			return "", 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", 0, false
}

// escapedString is plainString for a string with escapes, from data[i:],
// just after its opening quote.
func escapedString(data []byte, i int) (string, int, bool) {
	var out []byte
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return "", 0, false
			}
			return string(out), i + 1, true
		case c < 0x20:
			return "", 0, false
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(data) {
			return "", 0, false
		}
		switch e := data[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+6 > len(data) {
				return "", 0, false
			}
			r, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 32)
			if err != nil || utf16.IsSurrogate(rune(r)) {
				return "", 0, false
			}
			out = utf8.AppendRune(out, rune(r))
			i += 6
			continue
		default:
			return "", 0, false
		}
		i += 2
	}
	return "", 0, false
}

func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

const hexDigits = "0123456789abcdef"

// jsonSafe tells the bytes appendJSONString copies as they are.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// dictJSONKey is each dictionary name quoted and followed by a colon, as
// a JSON object's key.
var dictJSONKey = func() (k [len(fieldDictionary)]string) {
	for i, n := range fieldDictionary {
		k[i] = string(appendJSONString(nil, n)) + ":"
	}
	return k
}()

// appendJSONString appends s quoted as encoding/json quotes it (HTML-safe,
// invalid UTF-8 replaced by U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendJSONFromBinary appends the JSON of a record in binary form, as
// AppendJSON writes it once decoded, without decoding it into a map (a
// listing's page). Fields redact names are written as Redacted. It
// returns false and b as it was when the record does not decode (the
// caller decodes it for the error) or has a newer agent's field (whose
// place in name order is unknown here).
func AppendJSONFromBinary(b, rec []byte, redact func(name string) bool) ([]byte, bool) {
	if len(rec) > maxFieldsLen {
		return b, false
	}
	it, err := newFieldIter(rec)
	if err != nil {
		return b, false
	}
	if len(it.b) > 0 {
		// The names and values are only read here, never kept: they
		// can be pieces of rec itself rather than of a copy.
		it.src, it.size = unsafe.String(&it.b[0], len(it.b)), len(it.b)
	}
	start := len(b)
	b = slices.Grow(b, len(rec)+len(rec)/2)
	b = append(b, '{')
	prev, prevCode := "", uint64(0)
	for i := 0; it.next(); i++ {
		// The checks of decodeFields: names ascending (so no twice), no
		// empty value, no field this agent does not know. Two dictionary
		// names compare by their ranks, the same order.
		known := it.code > 0 && it.code <= uint64(len(fieldDictionary))
		if it.value == "" || !known && IsUnknownField(it.name) {
			return b[:start], false
		}
		if i > 0 {
			if known && prevCode > 0 {
				if dictRank[it.code-1] <= dictRank[prevCode-1] {
					return b[:start], false
				}
			} else if it.name <= prev {
				return b[:start], false
			}
			b = append(b, ',')
		}
		prev, prevCode = it.name, 0
		if known {
			prevCode = it.code
			b = append(b, dictJSONKey[it.code-1]...)
		} else {
			b = appendJSONString(b, it.name)
			b = append(b, ':')
		}
		if redact != nil && redact(it.name) {
			b = appendJSONString(b, Redacted)
		} else {
			b = appendJSONString(b, it.value)
		}
	}
	if it.err != nil {
		return b[:start], false
	}
	return append(b, '}'), true
}
