package service

import (
	"fmt"
	"time"
)

// Certificates expire: the agent shows how long each one it uses has left
// (the metric pbxtopo_tls_cert_expiry_seconds) and warns in its status
// report from CertWarnBefore on. A node or API certificate is replaced
// without a restart: write the new files and send SIGHUP (Reload).

// CertWarnBefore is how long before a certificate ends the status report
// warns.
const CertWarnBefore = 30 * 24 * time.Hour

// CertExpiry is one certificate the agent uses and when it ends.
type CertExpiry struct {
	Use      string    `json:"use"` // node (tls.cert), ca (tls.ca), api (http_tls.cert)
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// certWarnings says which certificates end within CertWarnBefore of now.
func certWarnings(certs []CertExpiry, now time.Time) []string {
	var out []string
	for _, c := range certs {
		left := c.NotAfter.Sub(now)
		if left >= CertWarnBefore {
			continue
		}
		fix := "make a new one ('pbxtopo tls cert create'), put it in place and send the agent SIGHUP"
		if c.Use == "ca" {
			fix = "rotate the CA (docs/security.md, Rotating certificates: a bundle of the old and the new CA first)"
		}
		when := fmt.Sprintf("expires on %s (in %d days)", c.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
		if left <= 0 {
			when = "expired on " + c.NotAfter.UTC().Format(time.DateOnly)
		}
		out = append(out, fmt.Sprintf("certificate %s (%s) %s: %s", c.Use, c.Subject, when, fix))
	}
	return out
}
