package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// KeyPair is a certificate and its key, read from files, that a reload
// replaces while connections go on: TLS configurations built on it ask it
// for the certificate at every handshake. A node's certificate is rotated
// this way without a restart (SIGHUP).
type KeyPair struct {
	cert, key string
	cur       atomic.Pointer[tls.Certificate]
}

// LoadKeyPair reads a certificate and key; an expired certificate is
// refused.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	k := &KeyPair{cert: certFile, key: keyFile}
	if err := k.Reload(nil); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the files again and, when check accepts the new
// certificate (check may be nil), uses them from the next handshake on.
// On any error the pair in use stays.
func (k *KeyPair) Reload(check func(*x509.Certificate) error) error {
	pair, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		return fmt.Errorf("certificate %s / key %s: %w", k.cert, k.key, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return err
		}
	}
	if time.Now().After(pair.Leaf.NotAfter) {
		return fmt.Errorf("certificate %s expired on %s: make a new one with 'pbxtopo tls cert create'", k.cert, pair.Leaf.NotAfter.Format(time.DateOnly))
	}
	if check != nil {
		if err := check(pair.Leaf); err != nil {
			return fmt.Errorf("certificate %s: %w", k.cert, err)
		}
	}
	k.cur.Store(&pair)
	return nil
}

// Leaf returns the certificate in use.
func (k *KeyPair) Leaf() *x509.Certificate { return k.cur.Load().Leaf }

// GetCertificate serves the pair in use (tls.Config.GetCertificate).
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.cur.Load(), nil
}

// GetClientCertificate presents the pair in use (tls.Config.GetClientCertificate).
func (k *KeyPair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.cur.Load(), nil
}

// ReadCAs returns the certificates of a CA file (one CA, or a bundle of
// the old and the new CA while the CA is rotated).
func ReadCAs(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return out, nil
}
