package agent

import (
	"crypto/x509"
	"fmt"
	"sort"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
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

// agentCerts are the certificates of a running agent.
type agentCerts struct {
	node *pki.KeyPair        // tls.cert: replication, Raft, membership checks
	api  *pki.KeyPair        // http_tls.cert, or nil
	cas  []*x509.Certificate // tls.ca (read at start)
}

// list returns every certificate, the one that ends first first.
func (c *agentCerts) list() []CertExpiry {
	var out []CertExpiry
	add := func(use string, cert *x509.Certificate) {
		out = append(out, CertExpiry{Use: use, Subject: cert.Subject.CommonName, NotAfter: cert.NotAfter})
	}
	add("node", c.node.Leaf())
	if c.api != nil {
		add("api", c.api.Leaf())
	}
	for _, ca := range c.cas {
		add("ca", ca)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].NotAfter.Before(out[j].NotAfter) })
	return out
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
			fix = "rotate the CA (README, Security model: a bundle of the old and the new CA first)"
		}
		when := fmt.Sprintf("expires on %s (in %d days)", c.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
		if left <= 0 {
			when = "expired on " + c.NotAfter.UTC().Format(time.DateOnly)
		}
		out = append(out, fmt.Sprintf("certificate %s (%s) %s: %s", c.Use, c.Subject, when, fix))
	}
	return out
}
