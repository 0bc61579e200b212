package mysql

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// Holds are stored: the hash must stay the one of "name\0value\0" of the
// owned fields in name order, however it is computed.
func TestHoldHashUnchanged(t *testing.T) {
	f := pbx.Fields{"cluster": "tpa1", "regexten": "6109", "name": "George", "secret": "Xy7-secret",
		"mailbox": "6109@sales", "vmsecret": "4831", "context": "sales", "allow": "ulaw,alaw"}
	for _, m := range Mappings() {
		for _, tm := range m.Tables {
			h := sha256.New()
			for _, name := range tm.Owned() {
				if v := f[name]; v != "" {
					h.Write([]byte(name + "\x00" + v + "\x00"))
				}
			}
			want := h.Sum(nil)[:16]
			if tm.ByMailbox {
				want = append(want, "6109@sales"...)
			}
			if !tm.Present(f) {
				want = absent
			}
			if got := holdOf(tm, f, true); !bytes.Equal(got, want) {
				t.Errorf("%s/%s: hold %x, want %x", m.Name, tm.Name, got, want)
			}
		}
	}
}

// rawHold reads the binary form as holdOf reads the decoded record.
func TestRawHoldIsHoldOf(t *testing.T) {
	records := []pbx.Fields{
		{"cluster": "tpa1", "regexten": "6109", "name": "George", "secret": "Xy7-secret", "mailbox": "6109@sales", "vmsecret": "4831"},
		{"cluster": "tpa1", "regexten": "6110", "name": "Ann", "protocol": "iax", "mailbox": "6110"},
		{"cluster": "tpa1", "regexten": "6111", "protocol": "pjsip", "context": "sales", "allow": "ulaw,alaw"},
		{"cluster": "tpa1", "regexten": "6112", "protocol": "sip"},
	}
	for _, m := range Mappings() {
		for _, tm := range m.Tables {
			for _, f := range records {
				got, err := rawHold(tm, f.AppendBinary(nil))
				if want := holdOf(tm, f, true); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s/%s %v: rawHold %x (%v), holdOf %x", m.Name, tm.Name, f, got, err, want)
				}
			}
			if got, _ := rawHold(tm, nil); !bytes.Equal(got, absent) {
				t.Errorf("%s: rawHold of nothing %x", tm.Name, got)
			}
		}
	}
}

// A row that is the record's image gives the record's hold back through
// ToFields: the echo of the bridge's own write takes that shortcut.
func TestImageRowKeepsTheHold(t *testing.T) {
	rec := pbx.Fields{"cluster": "tpa1", "site": "tpa", "regexten": "6109", "name": "George", "secret": "Xy7-secret",
		"mailbox": "6109@sales", "vmsecret": "4831", "context": "sales", "dtmfmode": "rfc2833", "canreinvite": "no",
		"callgroup": "1", "call-limit": "2", "authuser": "gl", "encryption": "yes", "astgroup": "USSales", "qualify": "yes"}
	for _, m := range Mappings() {
		for _, tm := range m.Tables {
			for _, proto := range []string{"", "sip", "pjsip", "iax"} {
				f := rec.Clone()
				if proto != "" {
					f["protocol"] = proto
				}
				row, err := tm.FromFields("tpa1/6109", f)
				if err != nil {
					t.Fatal(err)
				}
				if !tm.Present(f) {
					if tm.IsImage(row, "tpa1/6109", f) {
						t.Errorf("%s/%s %q: an image of a record the table has no row for", m.Name, tm.Name, proto)
					}
					continue
				}
				if !tm.IsImage(row, "tpa1/6109", f) {
					t.Errorf("%s/%s %q: FromFields is not the image", m.Name, tm.Name, proto)
					continue
				}
				back, err := tm.ToFields(row, "tpa1/6109", f)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(holdOf(tm, back, true), holdOf(tm, f, true)) {
					t.Errorf("%s/%s %q: ToFields of the image changed the hold: %v", m.Name, tm.Name, proto, back)
				}
				other := Row{}
				for k, v := range row {
					other[k] = v
				}
				for _, c := range tm.Columns {
					if !c.outOnly() && !c.MailboxContext && !c.MailboxNumber {
						other[c.Name] = strp("changed")
						break
					}
				}
				if tm.IsImage(other, "tpa1/6109", f) {
					t.Errorf("%s/%s %q: a changed row is the image", m.Name, tm.Name, proto)
				}
			}
		}
	}
}
