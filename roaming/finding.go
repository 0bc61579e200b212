package roaming

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Severity is how much a finding matters.
type Severity int

const (
	Info     Severity = iota // worth knowing; nothing is broken
	Warning                  // something does not work as intended, or is exposed
	Critical                 // an open door: toll fraud, eavesdropping, ghost calls
)

var severityNames = []string{"info", "warning", "critical"}

func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity parses info, warning or critical.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown severity %q: use info, warning or critical", ErrBadRequest, s)
}

// MarshalJSON writes the name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads the name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	v, err := ParseSeverity(name)
	*s = v
	return err
}

// Finding is one thing wrong (or worth knowing) in the enterprise.
type Finding struct {
	// ID names this finding stably across runs and replicas: the rule and
	// its subject, e.g. "ROAM-DUP-VM:5200" or "SEC-WEAK-PIN:lon:5021".
	// Acknowledgements refer to it.
	ID       string   `json:"id"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Summary says what is wrong, naming the records; Why says why it
	// matters; Fix says what to change.
	Summary string   `json:"summary"`
	Records []string `json:"records"` // table/key of every record involved
	Why     string   `json:"why"`
	Fix     string   `json:"fix"`
	Ack     *Ack     `json:"ack,omitempty"`
}

// Alerting reports whether the finding should alert: not acknowledged.
func (f *Finding) Alerting() bool { return f.Ack == nil }

// Rule describes one kind of finding.
type Rule struct {
	ID       string
	Severity Severity // the usual severity; a rule may raise it for one finding
	Title    string
	Why      string
}

// Rules lists every rule the report and the audit apply, roaming first.
var Rules = []Rule{
	{RuleDupVoicemail, Warning, "duplicate voicemail",
		"a roaming user's messages are split between clusters, and the message-waiting light shows only one of them"},
	{RuleNameMismatch, Warning, "name mismatch",
		"the directory, caller ID and wallboards show different people for one number, depending on the cluster"},
	{RuleCollision, Warning, "collision",
		"the number is roaming on some clusters and local on others, so which phone rings depends on where the caller is"},
	{RuleNoVoicemail, Warning, "no voicemail",
		"callers who reach a roaming number that does not answer cannot leave a message anywhere"},
	{RuleStandard, Info, "standard number",
		"a department number answered on several clusters: each site reaches its own, and the others back it up through DUNDi"},
	{RuleLocal, Info, "per-site local number",
		"each cluster has its own extension with this number; it is not advertised through DUNDi, so other clusters cannot dial it"},
	{RuleWeakSecret, Critical, "weak SIP secret",
		"SIP scanners try default and guessable secrets first; a registered phone account places calls at the company's expense (toll fraud)"},
	{RuleWeakPIN, Warning, "weak voicemail PIN",
		"a guessable PIN lets anyone read the box's messages or, with call-back features, place calls"},
	{RuleNoACL, Warning, "extension without ACL",
		"without acl or permit the account registers from any address on the internet, so a leaked or guessed secret is enough"},
	{RuleTrunkWeakSecret, Critical, "weak trunk secret",
		"a guessable trunk secret lets anyone register as the enterprise or, on an inter-site link, as another cluster"},
	{RuleTrunkNoACL, Warning, "trunk without ACL",
		"without an acl the trunk accepts calls from any address that knows or guesses its credentials"},
	{RuleACLOpen, Critical, "ACL permits every address",
		"0.0.0.0/0 in a permit list admits the whole internet: the ACL protects nothing"},
	{RuleACLEmpty, Warning, "empty ACL in use",
		"an access list with no networks permits every address in Asterisk"},
	{RuleTrunkClear, Warning, "unencrypted inter-site trunk",
		"calls between sites cross the WAN in clear and can be recorded by anyone on the path"},
	{RuleTrunkOrphan, Critical, "orphan trunk",
		"an account with no provider behind it still accepts INVITEs: scanners use it to ring phones (ghost calls) and try to dial out"},
	{RuleSharedPickup, Warning, "call or pickup group shared across groups",
		"one group's phones can answer another group's (or tenant's) calls with the pickup code"},
	{RuleHotDeskContext, Warning, "hot desk phone with more than local and emergency rights",
		"anyone passing a hot desk phone can call with the rights of its context without logging in"},
	{RuleUnknownContext, Warning, "unknown dialplan context",
		"the extension's calls run in a context no group owns (often 'default', where guest calls land too), so its rights are not the ones the admins manage"},
}

// Rule identifiers.
const (
	RuleDupVoicemail    = "ROAM-DUP-VM"
	RuleNameMismatch    = "ROAM-NAME-MISMATCH"
	RuleCollision       = "ROAM-COLLISION"
	RuleNoVoicemail     = "ROAM-NO-VM"
	RuleStandard        = "ROAM-STANDARD"
	RuleLocal           = "ROAM-LOCAL"
	RuleWeakSecret      = "SEC-WEAK-SECRET"
	RuleWeakPIN         = "SEC-WEAK-PIN"
	RuleNoACL           = "SEC-NO-ACL"
	RuleTrunkWeakSecret = "SEC-TRUNK-WEAK-SECRET"
	RuleTrunkNoACL      = "SEC-TRUNK-NO-ACL"
	RuleACLOpen         = "SEC-ACL-OPEN"
	RuleACLEmpty        = "SEC-ACL-EMPTY"
	RuleTrunkClear      = "SEC-TRUNK-CLEAR"
	RuleTrunkOrphan     = "SEC-TRUNK-ORPHAN"
	RuleSharedPickup    = "SEC-SHARED-PICKUP"
	RuleHotDeskContext  = "SEC-HOTDESK-CONTEXT"
	RuleUnknownContext  = "SEC-UNKNOWN-CONTEXT"
)

func ruleOf(id string) Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	panic("roaming: unknown rule " + id)
}

// newFinding makes a finding of a rule about a subject (the parts of its
// id after the rule), with the rule's severity and why.
func newFinding(rule string, subject []string, summary, fix string, records ...string) Finding {
	r := ruleOf(rule)
	return Finding{ID: rule + ":" + strings.Join(subject, ":"), Rule: rule, Severity: r.Severity,
		Summary: summary, Why: r.Why, Fix: fix, Records: records}
}

// sortFindings orders findings by severity (worst first), then id.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if a.Severity != b.Severity {
			return int(b.Severity) - int(a.Severity)
		}
		return naturalCompare(a.ID, b.ID)
	})
}

// naturalCompare orders strings with digit runs compared as numbers, so
// 999 sorts before 1000.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) - len(nb)
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
