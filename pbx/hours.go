package pbx

import (
	"fmt"
	"sort"
	"strings"
	"time"

	// Zone data inside the binary, so time zones work on hosts without
	// /usr/share/zoneinfo (minimal containers, some appliances).
	_ "time/tzdata"
)

// checkTimeZone returns why v is not a usable IANA time zone, or "".
func checkTimeZone(v string) string {
	if _, err := LoadZone(v); err != nil {
		return err.Error()
	}
	return ""
}

// LoadZone loads an IANA time zone by name, with an error that says what
// to give. "Local" is refused: the host's zone is not the site's.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("%q is not an IANA time zone: give a name such as America/New_York, Europe/London or UTC", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone: give a name such as America/New_York, Europe/London or UTC", name)
	}
	return loc, nil
}

// HoursRule is one row of the business hours table (guide §3.0.2), parsed:
// the times hold when the local date matches the day range and the date
// range, all in the rule's time zone.
type HoursRule struct {
	Key          string // cluster/group/function
	Cluster      string
	Group        string
	Function     string // OPEN opens; every other function closes
	Description  string
	Active       bool
	Start, End   int // seconds after midnight, End inclusive; End < Start wraps midnight
	StartDay     int // 0 (mon) .. 6 (sun), or -1 for any day
	EndDay       int
	StartDate    [2]int // month, day; zero for any date
	EndDate      [2]int
	Announcement string
	Zone         *time.Location
}

// Opens reports whether the rule opens the group (function OPEN) rather
// than closing it (CLOSED, HOLIDAY..., anything else).
func (r HoursRule) Opens() bool { return strings.EqualFold(r.Function, "OPEN") }

// ParseHoursRule parses a validated hours record. zone is the time zone
// of its site, used when the record gives none ("" means UTC).
func ParseHoursRule(f Fields, siteZone string) (HoursRule, error) {
	r := HoursRule{Key: Hours.KeyOf(f), Cluster: f["cluster"], Group: f["group"], Function: f["function"],
		Description: f["description"], Announcement: f["announcement"], Active: !strings.EqualFold(f["active"], "no")}
	where := "hours " + r.Key
	zone := f["timezone"]
	if zone == "" {
		zone = siteZone
	}
	if zone == "" {
		zone = "UTC"
	}
	var err error
	if r.Zone, err = LoadZone(zone); err != nil {
		return r, fmt.Errorf("%s: timezone %w (set it on the record or on its site)", where, err)
	}
	clock := func(name, def string) (int, error) {
		v := f[name]
		if v == "" {
			v = def
		}
		c, ok := parseClock(v)
		if !ok {
			return 0, fmt.Errorf("%s: %s %q is not a time of day (HH:MM or HH:MM:SS)", where, name, v)
		}
		var h, m, s int
		fmt.Sscanf(c, "%d:%d:%d", &h, &m, &s)
		return h*3600 + m*60 + s, nil
	}
	if r.Start, err = clock("start_time", "00:00:00"); err != nil {
		return r, err
	}
	if r.End, err = clock("end_time", "23:59:59"); err != nil {
		return r, err
	}
	day := func(name string) (int, error) {
		v := strings.ToLower(f[name])
		if v == "" || v == "*" {
			return -1, nil
		}
		if i := weekdayIndex(v); i >= 0 {
			return i, nil
		}
		return 0, fmt.Errorf("%s: %s %q must be mon, tue, wed, thu, fri, sat, sun or *", where, name, v)
	}
	if r.StartDay, err = day("start_day"); err != nil {
		return r, err
	}
	if r.EndDay, err = day("end_day"); err != nil {
		return r, err
	}
	if r.EndDay < 0 || r.StartDay < 0 {
		r.EndDay = r.StartDay // one day, or any day
	}
	date := func(name string) ([2]int, error) {
		v := f[name]
		if v == "" || v == "*" {
			return [2]int{}, nil
		}
		m, d, ok := parseDayMonth(v)
		if !ok {
			return [2]int{}, fmt.Errorf("%s: %s %q is not a date of the year (MM/DD or *)", where, name, v)
		}
		return [2]int{m, d}, nil
	}
	if r.StartDate, err = date("start_date"); err != nil {
		return r, err
	}
	if r.EndDate, err = date("end_date"); err != nil {
		return r, err
	}
	if r.EndDate == ([2]int{}) || r.StartDate == ([2]int{}) {
		r.EndDate = r.StartDate // one date, or any date
	}
	return r, nil
}

// Matches reports whether the rule holds at t, read as wall-clock time in
// the rule's zone (so a DST change moves it with the local clock). A
// year-less date range ("12/25"-"12/26", or "12/24"-"01/02" across the
// new year) holds every year.
func (r HoursRule) Matches(t time.Time) bool {
	lt := t.In(r.Zone)
	if r.StartDay >= 0 {
		wd := (int(lt.Weekday()) + 6) % 7 // mon = 0
		if !inCycle(wd, r.StartDay, r.EndDay) {
			return false
		}
	}
	if r.StartDate != ([2]int{}) {
		md := int(lt.Month())*100 + lt.Day()
		if !inCycle(md, r.StartDate[0]*100+r.StartDate[1], r.EndDate[0]*100+r.EndDate[1]) {
			return false
		}
	}
	sec := lt.Hour()*3600 + lt.Minute()*60 + lt.Second()
	return inCycle(sec, r.Start, r.End)
}

// inCycle reports whether v is in [lo, hi], wrapping when hi < lo.
func inCycle(v, lo, hi int) bool {
	if lo <= hi {
		return lo <= v && v <= hi
	}
	return v >= lo || v <= hi
}

// HoursDecision answers "open now?" for one group at one cluster.
type HoursDecision struct {
	Cluster string `json:"cluster"`
	Group   string `json:"group"`
	Open    bool   `json:"open"`
	// Rule is the key of the rule that decided; empty when none matched
	// (closed: outside every OPEN rule).
	Rule         string `json:"rule,omitempty"`
	Function     string `json:"function,omitempty"`
	Description  string `json:"description,omitempty"`
	Announcement string `json:"announcement,omitempty"`
	Zone         string `json:"timezone"`
	Local        string `json:"local_time"` // the time asked about, in the zone
	Reason       string `json:"reason"`
}

// DecideHours applies the rules of one group at one cluster at t: an
// active closing rule (CLOSED, HOLIDAY..., any function but OPEN) that
// holds closes the group; else an active OPEN rule that holds opens it;
// else it is closed. Among several closing rules the first by function
// name decides, so the answer never depends on storage order.
func DecideHours(rules []HoursRule, t time.Time) HoursDecision {
	rs := append([]HoursRule(nil), rules...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Function < rs[j].Function })
	d := HoursDecision{Zone: "UTC", Local: t.UTC().Format(time.RFC3339)}
	if len(rs) > 0 {
		d.Cluster, d.Group = rs[0].Cluster, rs[0].Group
		d.Zone, d.Local = rs[0].Zone.String(), t.In(rs[0].Zone).Format("2006-01-02 15:04:05 MST Mon")
	}
	decide := func(r HoursRule, open bool) HoursDecision {
		d.Open, d.Rule, d.Function, d.Description, d.Announcement = open, r.Key, r.Function, r.Description, r.Announcement
		d.Zone, d.Local = r.Zone.String(), t.In(r.Zone).Format("2006-01-02 15:04:05 MST Mon")
		what := "closed by"
		if open {
			what = "open by"
		}
		d.Reason = fmt.Sprintf("%s %s (%s)", what, r.Function, r.Describe())
		return d
	}
	for _, r := range rs {
		if r.Active && !r.Opens() && r.Matches(t) {
			return decide(r, false)
		}
	}
	for _, r := range rs {
		if r.Active && r.Opens() && r.Matches(t) {
			return decide(r, true)
		}
	}
	d.Reason = "closed: outside every active OPEN rule"
	if len(rs) == 0 {
		d.Reason = "closed: the group has no business hours"
	}
	return d
}

// Describe returns the rule's times in words, for answers and comments.
func (r HoursRule) Describe() string {
	days := "every day"
	if r.StartDay >= 0 {
		days = weekdays[r.StartDay]
		if r.EndDay != r.StartDay {
			days += "-" + weekdays[r.EndDay]
		}
	}
	dates := ""
	if r.StartDate != ([2]int{}) {
		dates = fmt.Sprintf(", %02d/%02d", r.StartDate[0], r.StartDate[1])
		if r.EndDate != r.StartDate {
			dates += fmt.Sprintf("-%02d/%02d", r.EndDate[0], r.EndDate[1])
		}
	}
	return fmt.Sprintf("%s%s %s-%s %s", days, dates, clockText(r.Start), clockText(r.End), r.Zone)
}

func clockText(s int) string { return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60) }

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// gotoTimes returns the GotoIfTime times argument: HH:MM, or HH:MM:SS when
// the seconds matter (an end of :59 means to the end of that minute).
func gotoTimes(start, end int) string {
	f := func(s int, isEnd bool) string {
		if s%60 == 0 || (isEnd && s%60 == 59) {
			return fmt.Sprintf("%02d:%02d", s/3600, s/60%60)
		}
		return clockText(s)
	}
	return f(start, false) + "-" + f(end, true)
}

// timeSpecs returns the (mdays, months) pairs of a date range: GotoIfTime
// takes days of month and months apart, so a range across months becomes
// one line per part.
func (r HoursRule) timeSpecs() [][2]string {
	if r.StartDate == ([2]int{}) {
		return [][2]string{{"*", "*"}}
	}
	sm, sd, em, ed := r.StartDate[0], r.StartDate[1], r.EndDate[0], r.EndDate[1]
	if sm == em && sd <= ed {
		return [][2]string{{dayRange(sd, ed), monthNames[sm-1]}}
	}
	var out [][2]string
	out = append(out, [2]string{dayRange(sd, 31), monthNames[sm-1]})
	for m := sm%12 + 1; m != em; m = m%12 + 1 {
		out = append(out, [2]string{"*", monthNames[m-1]})
	}
	return append(out, [2]string{dayRange(1, ed), monthNames[em-1]})
}

func dayRange(a, b int) string {
	if a == b {
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("%d-%d", a, b)
}

// HoursDialplan returns an Asterisk dialplan context for one group's
// rules at one cluster: a Gosub routine that sets ${PBXTOPO_HOURS} to the
// function that decided (or AFTERHOURS), ${PBXTOPO_HOURS_OPEN} to 1 or 0
// and ${PBXTOPO_HOURS_ANNOUNCEMENT}, then returns. It decides as
// DecideHours does: closing rules first, then OPEN rules, with the time
// zone argument of GotoIfTime so Asterisk reads the times in the site's
// zone whatever the server's.
func HoursDialplan(cluster, group string, rules []HoursRule) string {
	rs := append([]HoursRule(nil), rules...)
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Opens() != rs[j].Opens() {
			return !rs[i].Opens()
		}
		return rs[i].Function < rs[j].Function
	})
	var b strings.Builder
	ctx := "pbxtopo-hours-" + cluster + "-" + group
	fmt.Fprintf(&b, "; business hours of group %s at cluster %s, generated by pbxtopo (hours dialplan)\n", group, cluster)
	fmt.Fprintf(&b, "; use: same => n,Gosub(%s,s,1) then test ${PBXTOPO_HOURS_OPEN}\n", ctx)
	fmt.Fprintf(&b, "[%s]\n", ctx)
	first := true
	line := func(format string, args ...any) {
		if first {
			b.WriteString("exten => s,1,")
			first = false
		} else {
			b.WriteString(" same => n,")
		}
		fmt.Fprintf(&b, format+"\n", args...)
	}
	var labels []HoursRule
	for _, r := range rs {
		if !r.Active {
			fmt.Fprintf(&b, "; %s inactive: %s\n", r.Function, r.Describe())
			continue
		}
		fmt.Fprintf(&b, "; %s: %s\n", r.Function, r.Describe())
		for _, sp := range r.timeSpecs() {
			wd := "*"
			if r.StartDay >= 0 {
				wd = weekdays[r.StartDay]
				if r.EndDay != r.StartDay {
					wd += "-" + weekdays[r.EndDay]
				}
			}
			line("GotoIfTime(%s,%s,%s,%s,%s?rule-%s)", gotoTimes(r.Start, r.End), wd, sp[0], sp[1], r.Zone, r.Function)
		}
		labels = append(labels, r)
	}
	line("Set(PBXTOPO_HOURS=AFTERHOURS)")
	b.WriteString(" same => n,Set(PBXTOPO_HOURS_OPEN=0)\n")
	b.WriteString(" same => n,Set(PBXTOPO_HOURS_ANNOUNCEMENT=)\n")
	b.WriteString(" same => n,Return()\n")
	for _, r := range labels {
		open := 0
		if r.Opens() {
			open = 1
		}
		fmt.Fprintf(&b, " same => n(rule-%s),Set(PBXTOPO_HOURS=%s)\n", r.Function, r.Function)
		fmt.Fprintf(&b, " same => n,Set(PBXTOPO_HOURS_OPEN=%d)\n", open)
		fmt.Fprintf(&b, " same => n,Set(PBXTOPO_HOURS_ANNOUNCEMENT=%s)\n", r.Announcement)
		b.WriteString(" same => n,Return()\n")
	}
	return b.String()
}
