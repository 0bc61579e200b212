package replicator

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// RevocationTable holds one record per decommissioned cluster: the
// enterprise's revocation list. It replicates like any record; every
// agent checks it on every replication handshake, both ways, and leaves
// the cluster out of its sources and of tombstone collection.
const RevocationTable = "revocations"

// Revocation is one decommissioned cluster: every certificate of the
// cluster issued before At is refused (a cluster rebuilt later under the
// same name gets new certificates, issued after).
type Revocation struct {
	Cluster string
	At      time.Time
	By      string
}

// Fields is the record of r.
func (r Revocation) Fields() pbx.Fields {
	return pbx.Fields{"cluster": r.Cluster, "at": r.At.UTC().Format(time.RFC3339Nano), "by": r.By}
}

// Revocations returns the decommissioned clusters, by name.
func Revocations(sn *store.Snapshot) (map[string]Revocation, error) {
	out := map[string]Revocation{}
	err := sn.Scan(RevocationTable, "", func(key string, v []byte) error {
		f, err := pbx.DecodeFields(v)
		if err != nil {
			return fmt.Errorf("revocation %s: %w", key, err)
		}
		at, err := time.Parse(time.RFC3339Nano, f["at"])
		if err != nil {
			return fmt.Errorf("revocation %s: time %q: %w", key, f["at"], err)
		}
		out[key] = Revocation{Cluster: key, At: at, By: f["by"]}
		return nil
	})
	return out, err
}

// revocations reads the list from the store (a small table, read at each
// handshake and round).
func (r *Replicator) revocations() map[string]Revocation {
	var out map[string]Revocation
	if err := r.st.View(func(sn *store.Snapshot) error {
		var err error
		out, err = Revocations(sn)
		return err
	}); err != nil {
		r.log.Error("revocation list", "err", err)
	}
	return out
}

// CheckCertificate refuses a certificate of a decommissioned cluster
// issued before its decommissioning. The agent's TLS handshakes call it.
func (r *Replicator) CheckCertificate(cert *x509.Certificate) error {
	id, err := pki.IdentityOf(cert)
	if err != nil {
		return err
	}
	if rev, ok := r.revocations()[id.Cluster]; ok && cert.NotBefore.Before(rev.At) {
		return fmt.Errorf("%w: cluster %s was decommissioned at %s by %s; its certificate %s (issued %s) is revoked",
			ErrRevoked, id.Cluster, rev.At.Format(time.RFC3339), rev.By, id, cert.NotBefore.Format(time.RFC3339))
	}
	return nil
}

// liveClusters is the membership's clusters without decommissioned ones.
func (r *Replicator) liveClusters() []ClusterView {
	revoked := r.revocations()
	var out []ClusterView
	for _, c := range r.members.Clusters() {
		if _, gone := revoked[c.Name]; !gone {
			out = append(out, c)
		}
	}
	return out
}
