package roaming

import "fmt"

// Config is the audit policy.
type Config struct {
	Policy
	// HotDeskContexts are the contexts a hot desk phone may have (local
	// and emergency calls only). Empty means the contexts of the hot
	// desk's own group (group "hotdesk" unless the hot desk names another).
	HotDeskContexts []string
	// InterSiteGroup is the trunk group of links between clusters; a trunk
	// whose host is another cluster's voice address is inter-site too.
	InterSiteGroup string
}

// DefaultConfig returns the default policy: SIP secrets of at least 12
// characters, voicemail PINs of at least 6 digits.
func DefaultConfig() Config {
	return Config{Policy: Policy{MinSecretLength: 12, MinPINLength: 6}, InterSiteGroup: "inter-site"}
}

// Validate checks the policy.
func (c Config) Validate() error {
	if c.MinSecretLength < 0 || c.MinSecretLength > 80 {
		return fmt.Errorf("%w: min secret length %d: use 0 to 80", ErrBadRequest, c.MinSecretLength)
	}
	if c.MinPINLength < 0 || c.MinPINLength > 22 {
		return fmt.Errorf("%w: min PIN length %d: use 0 to 22", ErrBadRequest, c.MinPINLength)
	}
	return nil
}

// TrunkStatus tells whether a trunk has registered with its provider. It
// comes from the status the AMI collector observes; nil means unknown.
type TrunkStatus interface {
	// TrunkRegistered returns whether the trunk is or has been registered,
	// and whether anything is known about it at all.
	TrunkRegistered(cluster, trunk string) (registered, known bool)
}

// AuditResult is an audit: every finding at or above the asked severity,
// acknowledged ones included (they stay visible but do not alert).
type AuditResult struct {
	Version  Version   `json:"version"`
	Findings []Finding `json:"findings"`
	// Alerting counts the findings that alert (not acknowledged), by
	// severity name, over every finding, shown or not.
	Alerting     map[string]int `json:"alerting"`
	Acknowledged int            `json:"acknowledged"` // among the shown findings
	// StaleAcks are acknowledgements whose finding no longer exists.
	StaleAcks []Ack `json:"stale_acks,omitempty"`
}

// AlertingAtLeast returns how many findings at or above min alert.
func (r *AuditResult) AlertingAtLeast(min Severity) int {
	n := 0
	for s := min; s <= Critical; s++ {
		n += r.Alerting[s.String()]
	}
	return n
}

// Audit runs every rule, roaming and security, over the enterprise.
// status may be nil.
func Audit(e *Enterprise, cfg Config, status TrunkStatus, min Severity) *AuditResult {
	all := append(e.roamingFindings(), e.securityFindings(cfg, status)...)
	e.attachAcks(all)
	sortFindings(all)
	r := &AuditResult{Version: e.Version, Findings: []Finding{}, Alerting: map[string]int{}}
	ids := make(map[string]bool, len(all))
	for _, f := range all {
		ids[f.ID] = true
		if f.Alerting() {
			r.Alerting[f.Severity.String()]++
		}
		if f.Severity < min {
			continue
		}
		if !f.Alerting() {
			r.Acknowledged++
		}
		r.Findings = append(r.Findings, f)
	}
	for _, id := range sortedKeys(e.Acks) {
		if !ids[id] {
			r.StaleAcks = append(r.StaleAcks, e.Acks[id])
		}
	}
	return r
}
