package pbx

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problem is one thing wrong with one field of a record, phrased so that a
// NOC operator knows what to change.
type Problem struct {
	Field string
	Msg   string
}

func (p Problem) String() string { return p.Msg }

// ValidationError lists every problem of one record.
type ValidationError struct {
	Table    *Table
	Key      string // the record key, e.g. tpa1/6109
	Number   string // for extensions and hot desks: the number, used when it is itself wrong
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		// A bad number is named by itself: "extension 61O9: not a dial
		// string"; other problems by the record: "extension tpa1/6109: ...".
		if p.Field == numberField(e.Table) && e.Number != "" {
			parts[i] = fmt.Sprintf("%s %s: %s", e.Table.Noun, e.Number, p.Msg)
		} else {
			parts[i] = fmt.Sprintf("%s %s: %s", e.Table.Noun, e.displayKey(), p.Msg)
		}
	}
	return strings.Join(parts, "; ")
}

func (e *ValidationError) displayKey() string {
	if strings.Trim(e.Key, "/") == "" {
		return "(no key)"
	}
	return e.Key
}

func numberField(t *Table) string {
	switch t {
	case Extensions:
		return "regexten"
	case HotDesks:
		return "extension"
	}
	return ""
}

// Check normalizes f (trims spaces, lower-cases yes/no and enums, canonical
// times and MAC addresses) and validates every field. It returns the
// normalized copy, or a *ValidationError with every problem found; f itself
// is never changed.
func (t *Table) Check(f Fields) (Fields, error) {
	out := make(Fields, len(f))
	var problems []Problem
	// In map order, without sorting the names of every record (an import
	// checks a million): the problems are put in name order below.
	for name, v := range f {
		v = strings.TrimSpace(v)
		spec, ok := t.Spec(name)
		if !ok {
			problems = append(problems, Problem{name, unknownField(t, name)})
			continue
		}
		if v == "" {
			continue
		}
		nv, msg := checkValue(spec, v)
		if msg != "" {
			problems = append(problems, Problem{name, msg})
			continue
		}
		out[name] = nv
	}
	// One problem per field at most so far: name order is a total order.
	slices.SortFunc(problems, func(a, b Problem) int { return strings.Compare(a.Field, b.Field) })
	for _, spec := range t.Fields {
		if spec.Required && out[spec.Name] == "" && !hasProblem(problems, spec.Name) {
			problems = append(problems, Problem{spec.Name, spec.Name + " is required"})
		}
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Table: t, Key: t.KeyOf(f), Number: strings.TrimSpace(f[numberField(t)]), Problems: problems}
	}
	return out, nil
}

func hasProblem(ps []Problem, field string) bool {
	for _, p := range ps {
		if p.Field == field {
			return true
		}
	}
	return false
}

func unknownField(t *Table, name string) string {
	if near := Nearest(name, t.Columns()); near != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", name, near)
	}
	return fmt.Sprintf("unknown field %q (the %s fields are listed by 'pbxtopo export --table %s')", name, t.Noun, t.Name)
}

// checkValue returns the normalized value, or a message saying what is wrong.
func checkValue(s FieldSpec, v string) (string, string) {
	// For fields with a fixed set of values, naming the set helps more
	// than naming the length.
	closed := s.Kind == YesNo || s.Kind == Enum || s.Kind == Weekday
	if s.Kind == Integer && !s.Secret {
		// A number is judged as a number: "abc" is no number, whatever
		// its length.
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "", fmt.Sprintf("%s %q is not a whole number", s.Name, v)
		}
		if n := utf8.RuneCountInString(v); s.Max > 0 && n > s.Max {
			return "", fmt.Sprintf("%s %s is too large: at most %s (%d digits)", s.Name, v, strings.Repeat("9", s.Max), s.Max)
		}
		return v, ""
	}
	if n := utf8.RuneCountInString(v); s.Max > 0 && n > s.Max && !closed {
		return "", fmt.Sprintf("%s is %d characters, the limit is %d", s.Name, n, s.Max)
	}
	if !utf8.ValidString(v) {
		return "", s.Name + " is not valid UTF-8"
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return "", fmt.Sprintf("%s holds a control character (%U); remove it", s.Name, r)
		}
	}
	shown := v
	if s.Secret {
		shown = "(secret)"
	}
	if check := kindChecks[s.Kind]; check != nil {
		return check(s, v, shown)
	}
	return v, ""
}

// kindChecks check and normalise a value of each kind, after the length,
// UTF-8 and control character checks every kind gets. shown is the value
// as an error may show it: "(secret)" for a secret field. Text needs none.
var kindChecks = map[Kind]func(s FieldSpec, v, shown string) (string, string){
	Ident:      identValue,
	Label:      labelValue,
	IdentList:  identListValue,
	DialString: dialStringValue,
	Integer:    integerValue,
	YesNo:      yesNoValue,
	Enum:       enumValue,
	IP:         ipValue,
	IPList:     ipListValue,
	Host:       hostValue,
	Port:       portValue,
	Networks:   networksValue,
	CallerID:   callerIDValue,
	Mailbox:    mailboxValue,
	CallGroups: callGroupsValue,
	Codecs:     codecsValue,
	MAC:        macValue,
	Time:       timeValue,
	Weekday:    weekdayValue,
	DayMonth:   dayMonthValue,
	TimeZone:   timeZoneValue,
	Qualify:    qualifyValue,
}

func identValue(s FieldSpec, v, shown string) (string, string) {
	if !isIdent(v) {
		return "", fmt.Sprintf("%s %q may hold only letters, digits, '_', '-' and '.'", s.Name, shown)
	}
	return v, ""
}

func labelValue(s FieldSpec, v, _ string) (string, string) {
	if !isLabel(v) {
		return "", fmt.Sprintf("%s %q is not a valid name: use lower-case letters, digits and '-' (a DNS label)", s.Name, v)
	}
	return v, ""
}

func identListValue(s FieldSpec, v, _ string) (string, string) {
	items := splitList(v)
	for _, it := range items {
		if !isIdent(it) {
			return "", fmt.Sprintf("%s item %q may hold only letters, digits, '_', '-' and '.'", s.Name, it)
		}
	}
	return strings.Join(items, ","), ""
}

func dialStringValue(s FieldSpec, v, _ string) (string, string) {
	if msg := checkDial(v); msg != "" {
		if s.Secret {
			return "", fmt.Sprintf("%s must be digits only", s.Name)
		}
		if s.Name == "regexten" || s.Name == "extension" {
			return "", "not a dial string " + msg
		}
		return "", fmt.Sprintf("%s %q is not a dial string %s", s.Name, v, msg)
	}
	return v, ""
}

func integerValue(s FieldSpec, v, shown string) (string, string) {
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		return "", fmt.Sprintf("%s %q is not a whole number", s.Name, shown)
	}
	return v, ""
}

func yesNoValue(s FieldSpec, v, _ string) (string, string) {
	l := strings.ToLower(v)
	if l != "yes" && l != "no" {
		return "", fmt.Sprintf("%s %q must be yes or no", s.Name, v)
	}
	return l, ""
}

func enumValue(s FieldSpec, v, _ string) (string, string) {
	for _, e := range s.Enum {
		if strings.EqualFold(e, v) {
			return e, ""
		}
	}
	return "", fmt.Sprintf("%s %q must be one of %s", s.Name, v, strings.Join(s.Enum, ", "))
}

func ipValue(s FieldSpec, v, _ string) (string, string) {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return "", fmt.Sprintf("%s %q is not an IP address", s.Name, v)
	}
	if a.Zone() != "" {
		return "", fmt.Sprintf("%s %q has an IPv6 zone (%%%s), which names one host's interface: give the address without it", s.Name, v, a.Zone())
	}
	return a.String(), ""
}

func ipListValue(s FieldSpec, v, _ string) (string, string) {
	items := splitList(v)
	for i, it := range items {
		a, err := netip.ParseAddr(it)
		if err != nil {
			return "", fmt.Sprintf("%s item %d %q is not an IP address", s.Name, i+1, it)
		}
		if a.Zone() != "" {
			return "", fmt.Sprintf("%s item %d %q has an IPv6 zone, which names one host's interface: give the address without it", s.Name, i+1, it)
		}
		items[i] = a.String()
	}
	return strings.Join(items, ","), ""
}

func hostValue(s FieldSpec, v, _ string) (string, string) {
	if v == "dynamic" {
		return v, ""
	}
	if a, err := netip.ParseAddr(v); err == nil {
		if a.Zone() != "" {
			return "", fmt.Sprintf("%s %q has an IPv6 zone, which names one host's interface: give the address without it", s.Name, v)
		}
		return a.String(), ""
	}
	if !isHostname(v) {
		return "", fmt.Sprintf("%s %q is not a host name, an IP address or 'dynamic'", s.Name, v)
	}
	return strings.ToLower(v), ""
}

func portValue(s FieldSpec, v, _ string) (string, string) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Sprintf("%s %q is not a port number (1-65535)", s.Name, v)
	}
	return strconv.Itoa(p), ""
}

func networksValue(s FieldSpec, v, _ string) (string, string) {
	nets, msg := ParseNetworks(v)
	if msg != "" {
		if s.Name == "networks" {
			return "", msg
		}
		return "", s.Name + " " + msg
	}
	strs := make([]string, len(nets))
	for i, n := range nets {
		strs[i] = n.Text
	}
	return strings.Join(strs, ","), ""
}

func callerIDValue(s FieldSpec, v, _ string) (string, string) {
	if msg := checkCallerID(v); msg != "" {
		return "", fmt.Sprintf("%s %q %s", s.Name, v, msg)
	}
	return v, ""
}

func mailboxValue(s FieldSpec, v, _ string) (string, string) {
	for _, box := range splitList(v) {
		num, ctx, _ := strings.Cut(box, "@")
		if checkDial(num) != "" || num == "" {
			return "", fmt.Sprintf("%s %q: box %q is not a number", s.Name, v, num)
		}
		if strings.Contains(box, "@") && !isIdent(ctx) {
			return "", fmt.Sprintf("%s %q: voicemail context %q is not a valid name", s.Name, v, ctx)
		}
	}
	return strings.Join(splitList(v), ","), ""
}

func callGroupsValue(s FieldSpec, v, _ string) (string, string) {
	if msg := checkCallGroups(v); msg != "" {
		return "", fmt.Sprintf("%s %q %s", s.Name, v, msg)
	}
	return v, ""
}

func codecsValue(s FieldSpec, v, _ string) (string, string) {
	items := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '&' || r == ';' || r == ' ' })
	for _, it := range items {
		if !isIdent(it) {
			return "", fmt.Sprintf("%s item %q is not a codec name", s.Name, it)
		}
	}
	return strings.ToLower(strings.Join(items, ",")), ""
}

func macValue(s FieldSpec, v, _ string) (string, string) {
	hex := strings.NewReplacer(":", "", "-", "", ".", "").Replace(strings.ToLower(v))
	if len(hex) != 12 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", fmt.Sprintf("%s %q is not a MAC address (12 hex digits)", s.Name, v)
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex[i : i+2])
	}
	return b.String(), ""
}

func timeValue(s FieldSpec, v, _ string) (string, string) {
	t, ok := parseClock(v)
	if !ok {
		return "", fmt.Sprintf("%s %q is not a time of day (HH:MM or HH:MM:SS)", s.Name, v)
	}
	return t, ""
}

func weekdayValue(s FieldSpec, v, _ string) (string, string) {
	l := strings.ToLower(v)
	if l != "*" && weekdayIndex(l) < 0 {
		return "", fmt.Sprintf("%s %q must be mon, tue, wed, thu, fri, sat, sun or *", s.Name, v)
	}
	return l, ""
}

func dayMonthValue(s FieldSpec, v, _ string) (string, string) {
	if v == "*" {
		return v, ""
	}
	m, d, ok := parseDayMonth(v)
	if !ok {
		return "", fmt.Sprintf("%s %q is not a date of the year (MM/DD or *)", s.Name, v)
	}
	return fmt.Sprintf("%02d/%02d", m, d), ""
}

func timeZoneValue(s FieldSpec, v, _ string) (string, string) {
	if msg := checkTimeZone(v); msg != "" {
		return "", fmt.Sprintf("%s %s", s.Name, msg)
	}
	return v, ""
}

func qualifyValue(s FieldSpec, v, _ string) (string, string) {
	l := strings.ToLower(v)
	if l == "yes" || l == "no" {
		return l, ""
	}
	if n, err := strconv.Atoi(v); err != nil || n < 0 {
		return "", fmt.Sprintf("%s %q must be yes, no or milliseconds", s.Name, v)
	}
	return v, ""
}

func isIdent(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if !(r == '_' || r == '-' || r == '.' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return false
		}
	}
	return true
}

// IsLabel reports whether v can name a cluster or site: a DNS label, since
// cluster names become names in the voice zone.
func IsLabel(v string) bool { return isLabel(v) }

func isLabel(v string) bool {
	if v == "" || len(v) > 63 || v[0] == '-' || v[len(v)-1] == '-' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isHostname(v string) bool {
	if len(v) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(strings.ToLower(v), "."), ".") {
		if !isLabel(l) && !(l != "" && strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-_") == "") {
			return false
		}
	}
	return true
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// checkDial returns "" for a valid dial string, or why it is not one.
func checkDial(v string) string {
	if v == "" {
		return "(it is empty)"
	}
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9', r == '*', r == '#', r == '+':
		case unicode.IsLetter(r):
			return "(letters are not allowed)"
		case r == ' ':
			return "(spaces are not allowed)"
		default:
			return fmt.Sprintf("(%q is not allowed; use digits, '*', '#' or '+')", r)
		}
	}
	return ""
}

// IsDialString reports whether v is a plain dial string (digits, '*', '#', '+').
func IsDialString(v string) bool { return checkDial(v) == "" }

func checkCallerID(v string) string {
	open := strings.IndexByte(v, '<')
	if open < 0 {
		if strings.ContainsAny(v, ">") {
			return "has '>' without '<'"
		}
		return ""
	}
	if !strings.HasSuffix(v, ">") || strings.Count(v, "<") != 1 || strings.Count(v, ">") != 1 {
		return `must look like "Name <number>"`
	}
	num := v[open+1 : len(v)-1]
	if num != "" && checkDial(num) != "" {
		return fmt.Sprintf("holds %q where the number goes", num)
	}
	return ""
}

func checkCallGroups(v string) string {
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b > 63 || a > b {
			return fmt.Sprintf("has %q: use group numbers 0-63, separated by ',' with ranges like 3-5", part)
		}
	}
	return ""
}

// CallGroupSet expands a callgroup/pickupgroup value ("1,3-5") into the set
// of group numbers; invalid parts are skipped (values are checked on write).
func CallGroupSet(v string) []int {
	var out []int
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for g := a; g <= b && g <= 63; g++ {
			if g >= 0 {
				out = append(out, g)
			}
		}
	}
	return out
}

var weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

func weekdayIndex(d string) int {
	for i, w := range weekdays {
		if w == d {
			return i
		}
	}
	return -1
}

func parseClock(v string) (string, bool) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return "", false
	}
	limits := []int{23, 59, 59}
	nums := []int{0, 0, 0}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || len(p) > 2 || n < 0 || n > limits[i] {
			return "", false
		}
		nums[i] = n
	}
	return fmt.Sprintf("%02d:%02d:%02d", nums[0], nums[1], nums[2]), true
}

func parseDayMonth(v string) (int, int, bool) {
	ms, ds, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, false
	}
	m, err1 := strconv.Atoi(ms)
	d, err2 := strconv.Atoi(ds)
	if err1 != nil || err2 != nil || m < 1 || m > 12 || d < 1 {
		return 0, 0, false
	}
	days := []int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	return m, d, d <= days[m-1]
}

// Nearest returns the candidate closest to name by edit distance, or "" if
// none is close enough to be a likely typo.
func Nearest(name string, candidates []string) string {
	best, bestD := "", len(name)/2+2
	for _, c := range candidates {
		if d := EditDistance(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance of two short strings: what
// "did you mean" suggestions are ranked by.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
