package replicator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
)

// Cluster identity rests on certificates, not on gossip. Anyone who holds
// the gossip key can join the membership and claim any tags; only a node
// whose certificate (signed by the enterprise CA, naming its cluster and
// node) answers at the addresses it advertises counts. Verified checks
// each member over mutual TLS, the way every later connection to it is
// checked, and passes on only the members that passed: the Raft voters,
// the DNS and DUNDi health and the replication sources come from it.

// TLS application protocols of the endpoints a member advertises.
const (
	ProtoRepl = "h2"           // the replication endpoint (TagRepl)
	ProtoRaft = "pbxtopo-raft" // the Raft transport (TagRaft; raftstore's TLS layer)
)

// Prober fetches the certificate a node presents at an address, its chain
// already checked against the enterprise CA.
type Prober interface {
	Certificate(ctx context.Context, addr, proto string) (*x509.Certificate, error)
}

// TLSProber is the Prober over the node's mutual-TLS configuration.
type TLSProber struct{ cfg *tls.Config }

// NewTLSProber returns a prober that presents the node's certificate and
// trusts the enterprise CA only. It keeps a copy of cfg: servers adjust
// theirs when they start.
func NewTLSProber(cfg *tls.Config) *TLSProber { return &TLSProber{cfg: cfg.Clone()} }

// Certificate implements Prober: a TLS handshake, then the connection is
// closed.
func (p *TLSProber) Certificate(ctx context.Context, addr, proto string) (*x509.Certificate, error) {
	c := p.cfg.Clone()
	c.NextProtos = []string{proto}
	d := tls.Dialer{Config: c, NetDialer: &net.Dialer{}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs[0], nil
}

// Gossip is what Verified reads of the membership.
type Gossip interface {
	Members() []Member
	Changed() <-chan struct{}
}

// VerifiedConfig configures Verified.
type VerifiedConfig struct {
	// Cluster is this node's: its members' Raft addresses are checked
	// too (the Raft transport refuses other clusters' certificates).
	Cluster string
	// Check refuses certificates beyond the CA's word (the revocation
	// list, Replicator.CheckCertificate); nil accepts them.
	Check func(*x509.Certificate) error
	// Timeout bounds one check; Retry is the first wait before a member
	// whose check failed is checked again (doubling up to MaxRetry).
	Timeout, Retry, MaxRetry time.Duration
	Logger                   *slog.Logger
}

// Certificate verdicts, as Member.Certificate shows them.
const (
	CertVerified = "verified"
	CertChecking = "checking"
	// CertLapsed: verified while alive; not alive now, and checked
	// again when it returns.
	CertLapsed = "verified while alive; checked again when it returns"
)

// Verified is the membership as far as certificates confirm it.
type Verified struct {
	cfg   VerifiedConfig
	src   Gossip
	probe Prober
	log   *slog.Logger

	mu      sync.Mutex
	byNode  map[string]*verdict
	changed chan struct{}
	wake    chan struct{}
}

// verdict is what is known of one member's certificate.
type verdict struct {
	key  string // the claim it was checked for: address and tags
	ok   bool
	why  string // why not, when !ok
	was  bool   // verified once for this claim (then CertLapsed while not alive)
	busy bool   // a check runs
	gen  int    // bumped when the member fails: a check begun before is void
	next time.Time
	wait time.Duration
}

var _ Membership = (*Verified)(nil)

// NewVerified returns the verified view of src. Run checks the members.
func NewVerified(cfg VerifiedConfig, src Gossip, probe Prober) *Verified {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 250 * time.Millisecond
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Verified{cfg: cfg, src: src, probe: probe, log: cfg.Logger, byNode: map[string]*verdict{},
		changed: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// claim is what a member claims: its checks are redone when it changes.
func claim(m Member) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s", m.Addr, m.Tags[TagCluster], m.Tags[TagRole], m.Tags[TagRepl], m.Tags[TagRaft])
}

// Run checks members as they come, change and return, until ctx ends.
func (v *Verified) Run(ctx context.Context) {
	tick := time.NewTicker(v.cfg.Retry)
	defer tick.Stop()
	for {
		changed := v.src.Changed()
		v.look(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
			// What members say (their tags, a restart) is news for those
			// who read it through this view, verdicts changed or not.
			v.mu.Lock()
			v.notifyLocked()
			v.mu.Unlock()
		case <-v.wake:
		case <-tick.C:
		}
	}
}

// look starts a check of every alive member whose claim is new, changed,
// back from the dead, or due for a retry.
func (v *Verified) look(ctx context.Context) {
	now := time.Now()
	notify := false
	v.mu.Lock()
	seen := map[string]bool{}
	for _, m := range v.src.Members() {
		seen[m.Node] = true
		d := v.byNode[m.Node]
		alive := m.Status == "alive"
		k := claim(m)
		switch {
		case d == nil || d.key != k:
			d = &verdict{key: k, why: CertChecking, wait: v.cfg.Retry}
			v.byNode[m.Node] = d
			notify = true
		case !alive && (d.ok || d.why == CertChecking):
			// It counts again only once checked again: the node that
			// comes back under this name and claim may not be the one
			// that left.
			d.ok, d.why, d.wait, d.next = false, "not alive", v.cfg.Retry, time.Time{}
			if d.was {
				d.why = CertLapsed
			}
			d.gen++
			notify = true
		}
		if alive && !d.ok && !d.busy && !now.Before(d.next) {
			d.busy = true
			go v.check(ctx, m, k, d.gen)
		}
	}
	for n := range v.byNode {
		if !seen[n] {
			delete(v.byNode, n)
			notify = true
		}
	}
	if notify {
		v.notifyLocked()
	}
	v.mu.Unlock()
}

// check verifies one member's claim and records the verdict.
func (v *Verified) check(ctx context.Context, m Member, k string, gen int) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	err := v.verify(ctx, m)
	v.mu.Lock()
	defer v.mu.Unlock()
	d := v.byNode[m.Node]
	if d == nil || d.key != k {
		return // the claim changed meanwhile: the next look checks the new one
	}
	d.busy = false
	if d.gen != gen {
		return // the member failed meanwhile: checked again when it returns
	}
	if err != nil {
		if d.why != err.Error() {
			v.log.Warn("membership: a member's certificate does not back its claim; it does not count", "node", m.Node,
				"cluster", m.Tags[TagCluster], "gossip_addr", m.Addr, "err", err)
		}
		d.ok, d.why, d.next = false, err.Error(), time.Now().Add(d.wait)
		d.wait = min(2*d.wait, v.cfg.MaxRetry)
		v.notifyLocked()
		return
	}
	v.log.Info("membership: member verified by its certificate", "node", m.Node, "cluster", m.Tags[TagCluster])
	d.ok, d.was, d.why, d.wait = true, true, "", v.cfg.Retry
	v.notifyLocked()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// verify checks that the certificates at the member's addresses name the
// cluster and node it claims, and are not revoked.
func (v *Verified) verify(ctx context.Context, m Member) error {
	cluster := m.Tags[TagCluster]
	if cluster == "" {
		return errors.New("claims no cluster")
	}
	checks := []struct{ tag, proto string }{{TagRepl, ProtoRepl}}
	if cluster == v.cfg.Cluster {
		checks = append(checks, struct{ tag, proto string }{TagRaft, ProtoRaft})
	}
	for _, c := range checks {
		addr := m.Tags[c.tag]
		if addr == "" {
			return fmt.Errorf("advertises no %s address", c.tag)
		}
		cert, err := v.probe.Certificate(ctx, addr, c.proto)
		if err != nil {
			return fmt.Errorf("%s address %s: %w", c.tag, addr, err)
		}
		id, err := pki.IdentityOf(cert)
		if err != nil {
			return fmt.Errorf("%s address %s: %w", c.tag, addr, err)
		}
		if id.Cluster != cluster || id.Node != m.Node {
			return fmt.Errorf("%s address %s presents the certificate of %s, but the member claims to be %s@%s", c.tag, addr, id, m.Node, cluster)
		}
		if v.cfg.Check != nil {
			if err := v.cfg.Check(cert); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *Verified) notifyLocked() {
	close(v.changed)
	v.changed = make(chan struct{})
}

// Changed implements Membership: closed at the next change of what
// counts (a member verified, refused, failed, gone or changing its
// claim). Run turns the membership's changes into these.
func (v *Verified) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// All returns every member gossip knows, each with its certificate
// verdict (Member.Certificate), for display.
func (v *Verified) All() []Member {
	ms := v.src.Members()
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, m := range ms {
		switch d := v.byNode[m.Node]; {
		case d == nil || d.key != claim(m):
			ms[i].Certificate = CertChecking
		case d.ok && m.Status == "alive":
			ms[i].Certificate = CertVerified
		default:
			ms[i].Certificate = d.why
		}
	}
	return ms
}

// Members returns the alive members whose certificate backs their claim:
// the only ones that count. A member that fails is checked again when it
// returns.
func (v *Verified) Members() []Member {
	var out []Member
	for _, m := range v.All() {
		if m.Certificate == CertVerified {
			out = append(out, m)
		}
	}
	return out
}

// Clusters implements Membership over the verified members.
func (v *Verified) Clusters() []ClusterView { return ClustersOf(v.Members()) }

// Up reports whether a voice node of a cluster counts for its health (the
// DNS and DUNDi health views ask it): one alive and verified, or one
// restarting that was verified before it stopped. A restart is not a
// departure; but the node counts for nothing else (Raft, replication)
// until its certificate is checked again once it is back.
func (v *Verified) Up(cluster string) bool {
	ms := v.src.Members()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, m := range ms {
		if m.Tags[TagCluster] != cluster || m.Tags[TagRole] == "witness" {
			continue
		}
		d := v.byNode[m.Node]
		switch {
		case d == nil || d.key != claim(m):
		case m.Status == "alive" && d.ok, m.Status == StatusRestarting && d.was:
			return true
		}
	}
	return false
}
