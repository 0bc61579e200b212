package roaming

import (
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// TestNewerFieldNeverStopsReaders: an extension written by a newer
// pbxtopo carries a field this one has no name for (the fuzzer's
// "\x01\x01\xed0\x010": dictionary code 6253). The roaming report, the
// audit and DUNDi read the rest of the record and go on.
func TestNewerFieldNeverStopsReaders(t *testing.T) {
	st := sampleStore(t)
	change(t, st, pbx.Extensions, "tpa1/6109", pbx.Fields{"#6253": "0", "vmsecret": "1234"})
	if f, _, _ := st.Get(pbx.Extensions.Name, "tpa1/6109"); f["#6253"] != "0" {
		t.Fatalf("the newer field was not stored: %v", f)
	}
	e := load(t, st)
	rep, err := NewReport(e, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	shown := false
	for _, r := range rep.Rows {
		shown = shown || r.Cluster == "tpa1" && r.Extension == "6109" && r.Name == "George Lopez"
	}
	if !shown {
		t.Fatal("the roaming report leaves out tpa1/6109")
	}
	weak := false
	for _, f := range Audit(e, DefaultConfig(), nil, Info).Findings {
		weak = weak || f.Rule == "SEC-WEAK-PIN" && strings.Contains(strings.Join(f.Records, " "), "tpa1/6109")
	}
	if !weak {
		t.Error("the audit does not judge tpa1/6109's PIN")
	}
	b, err := NewBundle(e, "tpa1", DefaultDUNDiConfig())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range b.Files {
		found = found || strings.Contains(f.Content, "6109")
	}
	if !found {
		t.Error("DUNDi leaves out the roaming number 6109")
	}
}
