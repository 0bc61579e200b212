package agent

import (
	"crypto/x509"
	"sort"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/service"
)

// agentCerts are the certificates of a running agent.
type agentCerts struct {
	node *pki.KeyPair        // tls.cert: replication, Raft, membership checks
	api  *pki.KeyPair        // http_tls.cert, or nil
	cas  []*x509.Certificate // tls.ca (read at start)
}

// list returns every certificate, the one that ends first first.
func (c *agentCerts) list() []service.CertExpiry {
	var out []service.CertExpiry
	add := func(use string, cert *x509.Certificate) {
		out = append(out, service.CertExpiry{Use: use, Subject: cert.Subject.CommonName, NotAfter: cert.NotAfter})
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
