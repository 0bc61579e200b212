package roaming

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

func TestAuditOfTheSampleEnterprise(t *testing.T) {
	a := Audit(load(t, sampleStore(t)), DefaultConfig(), nil, Info)
	want := map[string]Severity{
		"ROAM-DUP-VM:5200":             Warning,
		"ROAM-NAME-MISMATCH:5200":      Warning,
		"ROAM-STANDARD:5200":           Info,
		"ROAM-LOCAL:5101":              Info,
		"SEC-WEAK-PIN:lon:5021":        Warning,
		"SEC-WEAK-SECRET:tpa2:5102":    Critical,
		"SEC-ACL-OPEN:providers":       Critical,
		"SEC-TRUNK-CLEAR:lon:AMS":      Warning,
		"SEC-TRUNK-ORPHAN:tpa1:BT":     Critical,
		"SEC-TRUNK-NO-ACL:tpa1:BT":     Warning,
		"SEC-SHARED-PICKUP:lon:5":      Warning,
		"SEC-UNKNOWN-CONTEXT:sfo:5500": Warning,
	}
	got := map[string]Severity{}
	for _, f := range a.Findings {
		got[f.ID] = f.Severity
		if f.Why == "" || f.Fix == "" || f.Summary == "" || len(f.Records) == 0 {
			t.Errorf("%s lacks why, fix, summary or records: %+v", f.ID, f)
		}
	}
	for id, sev := range want {
		if s, ok := got[id]; !ok || s != sev {
			t.Errorf("%s: got %v (present %v), want %v", id, s, ok, sev)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected finding %s", id)
		}
	}
	if a.Findings[0].Severity != Critical || a.Findings[len(a.Findings)-1].Severity != Info {
		t.Errorf("findings not worst first: %v", findingIDs(a.Findings))
	}
	if a.Alerting["critical"] != 3 || a.AlertingAtLeast(Warning) != 10 || a.AlertingAtLeast(Info) != 12 {
		t.Errorf("alerting %v", a.Alerting)
	}
	byID := map[string]Finding{}
	for _, f := range a.Findings {
		byID[f.ID] = f
	}
	if f := byID["SEC-WEAK-PIN:lon:5021"]; f.Summary != "lon/5021 (Alex Horn): the voicemail PIN is a well-known default" {
		t.Errorf("weak PIN: %q", f.Summary)
	}
	if f := byID["SEC-WEAK-SECRET:tpa2:5102"]; !strings.HasSuffix(f.Summary, "the SIP secret is equal to the extension number") {
		t.Errorf("weak secret: %q", f.Summary)
	}
	if f := byID["SEC-SHARED-PICKUP:lon:5"]; !strings.Contains(f.Summary, "HR (lon/5021), IT (lon/5101)") || len(f.Records) != 2 {
		t.Errorf("shared pickup: %+v", f)
	}
	if f := byID["SEC-ACL-OPEN:providers"]; f.Records[0] != "acls/providers" || len(f.Records) != 5 || !strings.Contains(f.Summary, "0.0.0.0/0") {
		t.Errorf("open acl: %+v", f)
	}
	if f := byID["SEC-UNKNOWN-CONTEXT:sfo:5500"]; !strings.Contains(f.Summary, "guest") {
		t.Errorf("unknown context: %q", f.Summary)
	}
}

// Secrets are never printed: no secret or PIN of the sample appears
// anywhere in the audit's JSON.
func TestAuditNeverShowsSecrets(t *testing.T) {
	a := Audit(load(t, sampleStore(t)), DefaultConfig(), nil, Info)
	out, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"extensions", "trunks"} {
		f, err := os.Open(filepath.Join("..", "testdata", "enterprise", table+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range []string{"secret", "vmsecret"} {
			i := slices.Index(recs[0], col)
			if i < 0 {
				continue
			}
			for _, r := range recs[1:] {
				// Short values (1234, 5102) are also numbers in the data.
				if s := r[i]; len(s) >= 6 && strings.Contains(string(out), s) {
					t.Errorf("the audit shows the %s of %v", col, r[:4])
				}
			}
		}
	}
}

type fakeStatus map[string]bool

func (f fakeStatus) TrunkRegistered(cluster, trunk string) (bool, bool) {
	reg, ok := f[cluster+"/"+trunk]
	return reg, ok
}

func TestAuditRulesOnChangedData(t *testing.T) {
	st := sampleStore(t)
	change(t, st, pbx.HotDesks, "tpa1/5811", pbx.Fields{"context": "USSales1"})
	change(t, st, pbx.Extensions, "tpa1/5813", pbx.Fields{"context": "IT"})
	change(t, st, pbx.Extensions, "tpa1/6101", pbx.Fields{"acl": "", "permit": "10.0.0.0/8,0.0.0.0/0"})
	change(t, st, pbx.Extensions, "tpa1/6103", pbx.Fields{"acl": "", "secret": "", "vmsecret": "", "context": ""})
	change(t, st, pbx.Extensions, "tpa1/6104", pbx.Fields{"acl": "SERVICE_PROVIDER", "vmsecret": "616104"})
	put(t, st, pbx.Groups, pbx.Fields{"name": "Guests", "tenant": "othercorp", "contexts": "Guests", "callgroup": "10"})
	put(t, st, pbx.Extensions, pbx.Fields{"cluster": "tpa1", "site": "tpa", "regexten": "7001", "astgroup": "Guests", "context": "Guests",
		"callgroup": "9", "pickupgroup": "10", "acl": "internal_phones", "secret": "Xq7vR2mK9pLw4Zt8"})
	e := load(t, st)
	a := Audit(e, DefaultConfig(), fakeStatus{"lon/SIP-32": false, "lon/TELNYX-7": true}, Info)
	byID := map[string]Finding{}
	for _, f := range a.Findings {
		byID[f.ID] = f
	}
	checks := []struct {
		id, summary string
		sev         Severity
	}{
		{"SEC-HOTDESK-CONTEXT:tpa1:5811", `the hot desk's context is "USSales1"`, Warning},
		{"SEC-HOTDESK-CONTEXT:tpa1:5813", `its extension's context is "IT"`, Warning},
		{"SEC-ACL-OPEN:tpa1:6101", "permit holds 0.0.0.0/0", Critical},
		{"SEC-NO-ACL:tpa1:6103", "neither acl nor permit", Warning},
		{"SEC-WEAK-SECRET:tpa1:6103", "the SIP secret is empty", Critical},
		{"SEC-UNKNOWN-CONTEXT:tpa1:6103", "has no context", Warning},
		{"SEC-ACL-EMPTY:SERVICE_PROVIDER", "lists no network and is used by 1 records", Warning},
		{"SEC-WEAK-PIN:tpa1:6104", "contains the extension number", Warning},
		{"SEC-SHARED-PICKUP:tpa1:10", "Guests (tpa1/7001), USSales (tpa1/6101, tpa1/6102, tpa1/6103, ...); they belong to 2 tenants: kccvoip, othercorp", Critical},
		{"SEC-TRUNK-ORPHAN:lon:SIP-32", "should register with sip.bt.example.net but has never registered", Warning},
	}
	for _, c := range checks {
		f, ok := byID[c.id]
		if !ok || !strings.Contains(f.Summary, c.summary) || f.Severity != c.sev {
			t.Errorf("%s: %+v (present %v), want %q at %v", c.id, f, ok, c.summary, c.sev)
		}
	}
	if _, ok := byID["SEC-TRUNK-ORPHAN:lon:TELNYX-7"]; ok {
		t.Error("a registered trunk is an orphan")
	}
	if _, ok := byID["SEC-WEAK-PIN:tpa1:6103"]; ok {
		t.Error("an empty PIN (the user changed it) is reported")
	}
	// An explicit hot desk policy replaces the group's contexts.
	cfg := DefaultConfig()
	cfg.HotDeskContexts = []string{"USSales1", "IT", "hotdesk"}
	a = Audit(e, cfg, nil, Info)
	for _, f := range a.Findings {
		if f.Rule == RuleHotDeskContext && (f.ID == "SEC-HOTDESK-CONTEXT:tpa1:5811" || f.ID == "SEC-HOTDESK-CONTEXT:tpa1:5813") {
			t.Errorf("%s despite the policy allowing it", f.ID)
		}
	}
}

func TestAuditSeverityAndAcks(t *testing.T) {
	st := sampleStore(t)
	put(t, st, pbx.Acks,
		pbx.Fields{"finding": "SEC-TRUNK-ORPHAN:tpa1:BT", "by": "alice", "why": "BT trunk is being provisioned", "at": "2026-11-22T17:00:00Z"},
		pbx.Fields{"finding": "SEC-WEAK-PIN:ams:3101", "by": "bob", "why": "old"})
	a := Audit(load(t, st), DefaultConfig(), nil, Critical)
	if len(a.Findings) != 3 {
		t.Fatalf("critical findings %v", findingIDs(a.Findings))
	}
	for _, f := range a.Findings {
		if f.Severity != Critical {
			t.Errorf("%s is %v", f.ID, f.Severity)
		}
		if f.ID == "SEC-TRUNK-ORPHAN:tpa1:BT" && (f.Ack == nil || f.Ack.By != "alice" || f.Alerting()) {
			t.Errorf("orphan trunk ack %+v", f.Ack)
		}
	}
	if a.Acknowledged != 1 || a.Alerting["critical"] != 2 || a.AlertingAtLeast(Warning) != 9 {
		t.Errorf("acknowledged %d alerting %v", a.Acknowledged, a.Alerting)
	}
	if len(a.StaleAcks) != 1 || a.StaleAcks[0].Finding != "SEC-WEAK-PIN:ams:3101" {
		t.Errorf("stale acks %+v", a.StaleAcks)
	}
	for _, s := range []string{"info", "WARNING", "critical"} {
		if _, err := ParseSeverity(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseSeverity("high"); err == nil || !strings.Contains(err.Error(), "use info, warning or critical") {
		t.Errorf("ParseSeverity(high) = %v", err)
	}
	var sev Severity
	if err := json.Unmarshal([]byte(`"warning"`), &sev); err != nil || sev != Warning {
		t.Errorf("unmarshal: %v %v", sev, err)
	}
}
