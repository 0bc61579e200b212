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
