// Package pki makes and checks the certificates of an enterprise: one CA,
// one certificate per node naming its cluster and node. Replication and the
// Raft transport use them for mutual TLS.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside a PKI directory.
const (
	CAFile   = "ca.crt"
	CAKey    = "ca.key"
	certExt  = ".crt"
	keyExt   = ".key"
	uriSheme = "pbxtopo"
)

// Identity is who a certificate speaks for.
type Identity struct {
	Cluster string
	Node    string
}

// URI returns the SAN URI that carries the identity in a certificate.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: uriSheme, Host: id.Cluster, Path: "/" + id.Node}
}

func (id Identity) String() string { return id.Node + "@" + id.Cluster }

// ErrNoIdentity: a certificate without a pbxtopo identity.
var ErrNoIdentity = errors.New("certificate names no pbxtopo cluster and node")

// IdentityOf reads the identity of a certificate made by CreateCert.
func IdentityOf(c *x509.Certificate) (Identity, error) {
	for _, u := range c.URIs {
		if u.Scheme == uriSheme && u.Host != "" && len(u.Path) > 1 {
			return Identity{Cluster: u.Host, Node: strings.TrimPrefix(u.Path, "/")}, nil
		}
	}
	return Identity{}, ErrNoIdentity
}

// CreateCA makes the enterprise CA in dir (ca.crt, ca.key). It refuses to
// overwrite an existing CA.
func CreateCA(dir, name string, validity time.Duration) error {
	if _, err := os.Stat(filepath.Join(dir, CAKey)); err == nil {
		return fmt.Errorf("%s already holds a CA key: keep it (every certificate depends on it) or use another --dir", dir)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"pbxtopo"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, CAKey), "EC PRIVATE KEY", marshalKey(key), 0o600); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, CAFile), "CERTIFICATE", der, 0o644)
}

// CertRequest describes a node certificate.
type CertRequest struct {
	Cluster  string
	Node     string
	Hosts    []string // DNS names and IP addresses the node is reached at
	Validity time.Duration
	// NotAfter, when set, overrides Validity (tests make expired certificates).
	NotAfter time.Time
}

// CreateCert signs a certificate for a node with the CA in caDir and writes
// NODE.crt and NODE.key into outDir. The certificate is for both server and
// client use: every replication link is mutual TLS.
func CreateCert(caDir, outDir string, req CertRequest) (certPath, keyPath string, err error) {
	if req.Cluster == "" || req.Node == "" {
		return "", "", fmt.Errorf("a certificate needs --cluster and --node")
	}
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	id := Identity{req.Cluster, req.Node}
	notAfter := req.NotAfter
	if notAfter.IsZero() {
		notAfter = time.Now().Add(req.Validity)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.Node, OrganizationalUnit: []string{req.Cluster}, Organization: []string{"pbxtopo"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.URI()},
		DNSNames:     []string{req.Node},
	}
	for _, h := range append(req.Hosts, "localhost", "127.0.0.1", "::1") {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", "", err
	}
	certPath = filepath.Join(outDir, req.Node+certExt)
	keyPath = filepath.Join(outDir, req.Node+keyExt)
	if err := writePEM(keyPath, "EC PRIVATE KEY", marshalKey(key), 0o600); err != nil {
		return "", "", err
	}
	return certPath, keyPath, writePEM(certPath, "CERTIFICATE", der, 0o644)
}

// Files names a node's CA, certificate and key.
type Files struct {
	CA, Cert, Key string
}

// TLSConfig returns the mutual-TLS configuration of a node: its own
// certificate, and peers verified against the CA in both directions. The
// caller adds its own checks of the peer's identity.
func TLSConfig(f Files) (*tls.Config, error) {
	c, _, err := NodeTLS(f)
	return c, err
}

// NodeTLS is TLSConfig with the node's key pair, which a reload replaces
// in every configuration cloned from this one (certificate rotation
// without a restart). The CA is read once.
func NodeTLS(f Files) (*tls.Config, *KeyPair, error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, nil, fmt.Errorf("TLS needs tls.ca, tls.cert and tls.key (make them with 'pbxtopo tls ca create' and 'pbxtopo tls cert create')")
	}
	pair, err := LoadKeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.cert: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("tls.ca %s holds no PEM certificate", f.CA)
	}
	return &tls.Config{
		GetCertificate:       pair.GetCertificate,
		GetClientCertificate: pair.GetClientCertificate,
		RootCAs:              pool,
		ClientCAs:            pool,
		ClientAuth:           tls.RequireAndVerifyClientCert,
		MinVersion:           tls.VersionTLS13,
		NextProtos:           []string{"h2"},
	}, pair, nil
}

// PeerIdentity returns the verified identity of the other end of a TLS
// connection.
func PeerIdentity(cs *tls.ConnectionState) (Identity, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, fmt.Errorf("no verified client certificate")
	}
	return IdentityOf(cs.VerifiedChains[0][0])
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, nil, fmt.Errorf("no CA in %s: make one with 'pbxtopo tls ca create --dir %s': %w", dir, dir, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKey))
	if err != nil {
		return nil, nil, fmt.Errorf("the CA key is not in %s (it stays with the admin who signs certificates): %w", dir, err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s: CA files are not PEM", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	return cert, key, err
}

func marshalKey(k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // cannot fail for a P-256 key we just made
	}
	return b
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}
