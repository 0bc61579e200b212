// Package wire holds the binary primitives every pbxtopo encoding is made
// of: uvarint numbers, length-prefixed bytes and strings, bytes and flags.
// The store's records, changes and log entries and the replicator's
// messages each keep their own layout; this package keeps the rules they
// share, so they are written once:
//
//   - one value has one encoding: numbers in their shortest form, flags
//     0 or 1;
//   - a length or a count is checked against its limit and against the
//     input left before anything is allocated, so a hostile message of a
//     few bytes cannot claim gigabytes;
//   - the first error sticks, and every error wraps the decoder's Kind
//     (store.ErrCorrupt, replicator.ErrMessage), so callers decode a whole
//     structure and check once.
package wire

import (
	"encoding/binary"
	"fmt"
)

// Encoder appends to B.
type Encoder struct{ B []byte }

// Uvarint appends v.
func (e *Encoder) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }

// Bytes appends v with its length.
func (e *Encoder) Bytes(v []byte) { e.Uvarint(uint64(len(v))); e.B = append(e.B, v...) }

// String appends v with its length.
func (e *Encoder) String(v string) { e.Uvarint(uint64(len(v))); e.B = append(e.B, v...) }

// Byte appends v as it is.
func (e *Encoder) Byte(v byte) { e.B = append(e.B, v) }

// Bool appends 1 for true, 0 for false.
func (e *Encoder) Bool(v bool) {
	if v {
		e.Byte(1)
	} else {
		e.Byte(0)
	}
}

// Strings appends a count and each string.
func (e *Encoder) Strings(ss []string) {
	e.Uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.String(s)
	}
}

// Decoder reads B from the front. After the first error every read returns
// a zero value and Err keeps that error.
type Decoder struct {
	B    []byte
	Err  error
	Kind error // wrapped by every error
}

// Fail records an error unless one is already there.
func (d *Decoder) Fail(format string, args ...any) {
	if d.Err == nil {
		d.Err = fmt.Errorf("%w: %s", d.Kind, fmt.Sprintf(format, args...))
	}
}

// Uvarint reads a number in its shortest form.
func (d *Decoder) Uvarint() uint64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.Fail("truncated number")
		return 0
	}
	if n != UvarintLen(v) {
		d.Fail("number not in its shortest form")
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.Err != nil {
		return 0
	}
	if len(d.B) == 0 {
		d.Fail("truncated")
		return 0
	}
	c := d.B[0]
	d.B = d.B[1:]
	return c
}

// Bool reads a flag: 0 or 1, nothing else.
func (d *Decoder) Bool() bool {
	c := d.Byte()
	if c > 1 {
		d.Fail("bad flag %d", c)
	}
	return c == 1
}

// Raw reads length-prefixed bytes of at most max bytes; what names them in
// errors. The result aliases the input.
func (d *Decoder) Raw(max int, what string) []byte {
	n := d.Uvarint()
	if d.Err != nil {
		return nil
	}
	if n > uint64(max) {
		d.Fail("%s is %d bytes, the limit is %d", what, n, max)
		return nil
	}
	if n > uint64(len(d.B)) {
		d.Fail("truncated %s (%d bytes, %d left)", what, n, len(d.B))
		return nil
	}
	v := d.B[:n:n]
	d.B = d.B[n:]
	return v
}

// String reads a length-prefixed string of at most max bytes.
func (d *Decoder) String(max int, what string) string { return string(d.Raw(max, what)) }

// Count reads a number of elements: at most max, and no more than the
// bytes left (every element takes at least one).
func (d *Decoder) Count(max int, what string) int {
	n := d.Uvarint()
	if d.Err == nil && n > uint64(max) {
		d.Fail("%d %s, the limit is %d", n, what, max)
		return 0
	}
	if d.Err == nil && n > uint64(len(d.B)) {
		d.Fail("%d %s in %d bytes", n, what, len(d.B))
		return 0
	}
	return int(n)
}

// Strings reads what Encoder.Strings wrote: at most maxCount strings of at
// most maxLen bytes each.
func (d *Decoder) Strings(maxCount, maxLen int, what string) []string {
	n := d.Count(maxCount, what)
	var out []string
	for i := 0; i < n && d.Err == nil; i++ {
		out = append(out, d.String(maxLen, what))
	}
	return out
}

// Done returns the first error, or one naming bytes left over.
func (d *Decoder) Done() error {
	if d.Err == nil && len(d.B) != 0 {
		d.Fail("%d trailing bytes", len(d.B))
	}
	return d.Err
}

// UvarintLen is the length of v's shortest encoding.
func UvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
