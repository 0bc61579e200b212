package pbx

import (
	"strings"
	"testing"
	"time"
)

func hoursRules(t *testing.T, zone string, rows ...Fields) []HoursRule {
	t.Helper()
	var out []HoursRule
	for _, f := range rows {
		f = f.Clone()
		f["cluster"], f["group"] = "tpa1", "USSales"
		checked, err := Hours.Check(f)
		if err != nil {
			t.Fatalf("rule %v: %v", f, err)
		}
		r, err := ParseHoursRule(checked, zone)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestDecideHours(t *testing.T) {
	ny := hoursRules(t, "America/New_York",
		Fields{"function": "OPEN", "start_time": "09:00", "end_time": "17:00", "start_day": "mon", "end_day": "fri"},
		Fields{"function": "WEEKEND", "active": "no", "start_day": "sat", "end_day": "sun"},
		Fields{"function": "CHRISTMAS", "start_date": "12/25", "end_date": "12/26", "announcement": "merry-christmas"},
		Fields{"function": "NEWYEAR", "start_date": "12/31", "end_date": "01/01"},
		Fields{"function": "HOLIDAY3", "start_day": "mon", "start_date": "05/25", "end_date": "05/31", "description": "Memorial Day"},
		Fields{"function": "NIGHT", "active": "no", "start_time": "22:00", "end_time": "06:00"},
	)
	sunday := hoursRules(t, "America/New_York", Fields{"function": "OPEN", "start_time": "09:00", "end_time": "17:00"})
	london := hoursRules(t, "Europe/London", Fields{"function": "OPEN", "start_time": "08:00", "end_time": "18:30", "start_day": "mon", "end_day": "fri"})
	night := hoursRules(t, "UTC", Fields{"function": "OPEN", "start_time": "22:00", "end_time": "06:00"})
	for _, tc := range []struct {
		name  string
		rules []HoursRule
		at    string // UTC
		open  bool
		rule  string
	}{
		{"weekday morning, EST (UTC-5)", ny, "2026-03-06T14:30:00Z", true, "OPEN"},
		{"weekday before opening, EST", ny, "2026-03-06T13:30:00Z", false, ""},
		// US DST starts Sunday 2026-03-08: 13:30 UTC is 08:30 EST on
		// Friday but 09:30 EDT on Monday.
		{"after DST, same UTC time is open", ny, "2026-03-09T13:30:00Z", true, "OPEN"},
		{"DST day itself, 08:30 EDT", sunday, "2026-03-08T12:30:00Z", false, ""},
		{"DST day itself, 09:30 EDT", sunday, "2026-03-08T13:30:00Z", true, "OPEN"},
		{"DST day, the skipped hour (07:30Z = 03:30 EDT)", sunday, "2026-03-08T07:30:00Z", false, ""},
		{"US fall back, 09:30 EST on 2026-11-02", ny, "2026-11-02T14:30:00Z", true, "OPEN"},
		{"US fall back, 13:30Z is 08:30 EST", ny, "2026-11-02T13:30:00Z", false, ""},
		{"London BST", london, "2026-07-01T07:30:00Z", true, "OPEN"},
		{"London GMT, same UTC time", london, "2026-01-07T07:30:00Z", false, ""},
		{"Christmas 2026 (Friday)", ny, "2026-12-25T15:00:00Z", false, "CHRISTMAS"},
		{"Christmas 2028 (Monday)", ny, "2028-12-25T15:00:00Z", false, "CHRISTMAS"},
		{"Boxing day 2030 (Thursday)", ny, "2030-12-26T15:00:00Z", false, "CHRISTMAS"},
		{"Dec 24 2026 (Thursday) is open", ny, "2026-12-24T15:00:00Z", true, "OPEN"},
		{"Dec 25 starts at local midnight (05:30Z = 00:30 EST)", ny, "2026-12-25T05:30:00Z", false, "CHRISTMAS"},
		{"Dec 24 evening local is still Dec 24", ny, "2026-12-25T04:30:00Z", false, ""},
		{"Dec 28 2026 (Monday) open", ny, "2026-12-28T15:00:00Z", true, "OPEN"},
		{"new year across the year end: Dec 31", ny, "2026-12-31T15:00:00Z", false, "NEWYEAR"},
		{"new year across the year end: Jan 1", ny, "2027-01-01T15:00:00Z", false, "NEWYEAR"},
		{"Jan 4 2027 open", ny, "2027-01-04T15:00:00Z", true, "OPEN"},
		{"Memorial Day 2026 (last Monday of May)", ny, "2026-05-25T15:00:00Z", false, "HOLIDAY3"},
		{"Tuesday after Memorial Day", ny, "2026-05-26T15:00:00Z", true, "OPEN"},
		{"Saturday: inactive rule, no OPEN", ny, "2026-03-07T15:00:00Z", false, ""},
		{"night shift across midnight, 23:00", night, "2026-03-07T23:00:00Z", true, "OPEN"},
		{"night shift across midnight, 05:59", night, "2026-03-07T05:59:59Z", true, "OPEN"},
		{"night shift, noon", night, "2026-03-07T12:00:00Z", false, ""},
		{"no rules", nil, "2026-03-07T12:00:00Z", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			d := DecideHours(tc.rules, at)
			if d.Open != tc.open || d.Function != tc.rule || d.Reason == "" {
				t.Fatalf("at %s: open=%v by %q (%s), want open=%v by %q", d.Local, d.Open, d.Function, d.Reason, tc.open, tc.rule)
			}
		})
	}
}

func TestTimeZoneValidation(t *testing.T) {
	for _, tc := range []struct {
		zone string
		ok   bool
	}{
		{"America/New_York", true}, {"Europe/London", true}, {"UTC", true},
		{"America/New_Yrok", false}, {"EST5EDT/x", false}, {"Local", false}, {"../etc/passwd", false}, {"/etc/localtime", false},
	} {
		_, err := Sites.Check(Fields{"name": "tpa", "timezone": tc.zone})
		if (err == nil) != tc.ok {
			t.Errorf("site timezone %q: %v", tc.zone, err)
		}
		if err != nil && !strings.Contains(err.Error(), "America/New_York") {
			t.Errorf("error does not say what to give: %v", err)
		}
	}
}

func TestHoursDialplan(t *testing.T) {
	rules := hoursRules(t, "America/New_York",
		Fields{"function": "OPEN", "start_time": "13:00:00", "end_time": "22:00:00", "start_day": "mon", "end_day": "fri"},
		Fields{"function": "CHRISTMAS", "start_date": "12/25", "end_date": "12/26", "announcement": "merry-christmas"},
		Fields{"function": "WINTER", "start_date": "12/20", "end_date": "02/10", "start_time": "08:00:30", "end_time": "09:00:00"},
		Fields{"function": "CLOSED", "active": "no", "start_date": "07/04", "end_date": "07/07"},
	)
	got := HoursDialplan("tpa1", "USSales", rules)
	for _, want := range []string{
		"[pbxtopo-hours-tpa1-USSales]\n",
		"exten => s,1,GotoIfTime(00:00-23:59,*,25-26,dec,America/New_York?rule-CHRISTMAS)\n",
		" same => n,GotoIfTime(08:00:30-09:00,*,20-31,dec,America/New_York?rule-WINTER)\n",
		" same => n,GotoIfTime(08:00:30-09:00,*,*,jan,America/New_York?rule-WINTER)\n",
		" same => n,GotoIfTime(08:00:30-09:00,*,1-10,feb,America/New_York?rule-WINTER)\n",
		" same => n,GotoIfTime(13:00-22:00,mon-fri,*,*,America/New_York?rule-OPEN)\n",
		" same => n(rule-CHRISTMAS),Set(PBXTOPO_HOURS=CHRISTMAS)\n same => n,Set(PBXTOPO_HOURS_OPEN=0)\n same => n,Set(PBXTOPO_HOURS_ANNOUNCEMENT=merry-christmas)\n",
		" same => n(rule-OPEN),Set(PBXTOPO_HOURS=OPEN)\n same => n,Set(PBXTOPO_HOURS_OPEN=1)\n",
		"; CLOSED inactive",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dialplan lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "rule-CLOSED") {
		t.Errorf("an inactive rule is in the dialplan:\n%s", got)
	}
	// Closing rules come before OPEN: the first GotoIfTime that holds wins.
	if strings.Index(got, "?rule-OPEN") < strings.Index(got, "?rule-WINTER") {
		t.Errorf("OPEN is tested before a closing rule:\n%s", got)
	}
}

func FuzzParseHoursRule(f *testing.F) {
	f.Add("OPEN", "09:00", "17:00", "mon", "fri", "12/25", "01/02", "America/New_York")
	f.Add("X", "25:00", "", "xyz", "", "13/40", "", "Nowhere/City")
	f.Fuzz(func(t *testing.T, fn, st, et, sd, ed, sdate, edate, zone string) {
		r, err := ParseHoursRule(Fields{"cluster": "c", "group": "g", "function": fn, "start_time": st, "end_time": et,
			"start_day": sd, "end_day": ed, "start_date": sdate, "end_date": edate, "timezone": zone}, "UTC")
		if err != nil {
			return
		}
		DecideHours([]HoursRule{r}, time.Unix(1_800_000_000, 0))
		HoursDialplan("c", "g", []HoursRule{r})
	})
}
