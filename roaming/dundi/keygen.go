package dundi

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
)

// KeyName is the name of a cluster's DUNDi key pair, as the generated
// dundi.conf names it (inkey/outkey pbxtopo-CLUSTER): Asterisk loads
// NAME.key and NAME.pub from its key directory.
func KeyName(cluster string) string { return "pbxtopo-" + cluster }

// GenerateKeyPair makes a DUNDi key pair as astgenkey -n does: a
// KeyBits-bit RSA key, the private half as an unencrypted PKCS#1 PEM
// ("RSA PRIVATE KEY"), the public half as a PKIX PEM ("PUBLIC KEY").
func GenerateKeyPair(rnd io.Reader) (privPEM, pubPEM []byte, err error) {
	k, err := rsa.GenerateKey(rnd, KeyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("dundi: generate key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("dundi: encode public key: %w", err)
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	return privPEM, pubPEM, nil
}

// Fingerprint is the SHA-256 of a public key's DER, in hex: what to
// compare when the .pub is copied to the other clusters.
func Fingerprint(k *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}
