package wire

import (
	"errors"
	"strings"
	"testing"
)

var errKind = errors.New("bad input")

func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.Uvarint(300)
	e.String("tpa1")
	e.Bytes([]byte{0, 1})
	e.Byte(7)
	e.Bool(true)
	e.Strings([]string{"a", "bc"})
	d := Decoder{B: e.B, Kind: errKind}
	n, s, b, c, f, ss := d.Uvarint(), d.String(8, "name"), d.Raw(8, "raw"), d.Byte(), d.Bool(), d.Strings(4, 4, "names")
	if err := d.Done(); err != nil {
		t.Fatal(err)
	}
	if n != 300 || s != "tpa1" || string(b) != "\x00\x01" || c != 7 || !f || strings.Join(ss, ",") != "a,bc" {
		t.Fatalf("got %d %q %v %d %v %v", n, s, b, c, f, ss)
	}
}

// Each input is refused with an error that wraps Kind and names the
// problem, and the first error sticks.
func TestRefuses(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		read func(d *Decoder)
		want string
	}{
		{[]byte{0x80, 0x00}, func(d *Decoder) { d.Uvarint() }, "shortest form"},
		{[]byte{0x80}, func(d *Decoder) { d.Uvarint() }, "truncated number"},
		{[]byte{9, 'a'}, func(d *Decoder) { d.Raw(100, "key") }, "truncated key"},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, func(d *Decoder) { d.Raw(1<<20, "value") }, "value is 4294967295 bytes, the limit is 1048576"},
		{[]byte{200, 1}, func(d *Decoder) { d.Count(1000, "records") }, "200 records in 0 bytes"},
		{[]byte{2}, func(d *Decoder) { d.Bool() }, "bad flag 2"},
	} {
		d := Decoder{B: c.in, Kind: errKind}
		c.read(&d)
		d.Uvarint() // a read after an error changes nothing
		err := d.Done()
		if !errors.Is(err, errKind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%x: %v, want %q", c.in, err, c.want)
		}
	}
}

func TestTrailingBytes(t *testing.T) {
	d := Decoder{B: []byte{1, 'a', 'b'}, Kind: errKind}
	d.Raw(5, "x")
	if err := d.Done(); !errors.Is(err, errKind) || !strings.Contains(err.Error(), "1 trailing bytes") {
		t.Fatal(err)
	}
}
