package dundi

import (
	"bytes"
	"compress/zlib"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

// The cryptography of Asterisk's DUNDi (pbx_dundi.c, res_crypto.c): a
// 16-byte AES-128 session key, sent RSA-OAEP (SHA-1) encrypted to the
// receiver's 1024-bit public key and signed (PKCS#1 v1.5, SHA-1) with the
// sender's private key; packets from byte 6 on are zlib-compressed,
// zero-padded to 16 bytes and AES-128-CBC encrypted under a random IV.

// KeyBits is the only RSA key size DUNDi's fixed 128-byte fields allow.
const KeyBits = 1024

// LoadPrivateKey reads an Asterisk .key file: a PEM RSA private key
// (PKCS#1 or PKCS#8), unencrypted, of 1024 bits.
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%w: %s holds no PEM block: give an RSA private key (astgenkey -n makes one)", ErrBadKey, path)
	}
	if _, enc := blk.Headers["DEK-Info"]; enc {
		return nil, fmt.Errorf("%w: %s is passphrase-protected: make the key with 'astgenkey -n' (no passphrase)", ErrBadKey, path)
	}
	var k any
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("%w: %s holds a %q block, want an RSA PRIVATE KEY or PRIVATE KEY", ErrBadKey, path, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s is a %T, want an RSA key", ErrBadKey, path, k)
	}
	if rk.N.BitLen() != KeyBits {
		return nil, fmt.Errorf("%w: %s is a %d-bit key; DUNDi needs %d bits", ErrBadKey, path, rk.N.BitLen(), KeyBits)
	}
	return rk, nil
}

// LoadPublicKey reads an Asterisk .pub file: a PEM RSA public key (PKIX
// "PUBLIC KEY" or PKCS#1 "RSA PUBLIC KEY") of 1024 bits.
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%w: %s holds no PEM block: give the peer's .pub file", ErrBadKey, path)
	}
	var k any
	switch blk.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("%w: %s holds a %q block, want a PUBLIC KEY", ErrBadKey, path, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s is a %T, want an RSA key", ErrBadKey, path, k)
	}
	if rk.N.BitLen() != KeyBits {
		return nil, fmt.Errorf("%w: %s is a %d-bit key; DUNDi needs %d bits", ErrBadKey, path, rk.N.BitLen(), KeyBits)
	}
	return rk, nil
}

// sealKey encrypts a session key to the receiver and signs the result:
// the SHAREDKEY and SIGNATURE elements.
func sealKey(rnd io.Reader, to *rsa.PublicKey, from *rsa.PrivateKey, key []byte) (enc, sig []byte, err error) {
	if enc, err = rsa.EncryptOAEP(sha1.New(), rnd, to, key, nil); err != nil {
		return nil, nil, fmt.Errorf("encrypt session key: %w", err)
	}
	h := sha1.Sum(enc)
	if sig, err = rsa.SignPKCS1v15(rnd, from, crypto.SHA1, h[:]); err != nil {
		return nil, nil, fmt.Errorf("sign session key: %w", err)
	}
	return enc, sig, nil
}

// openKey checks the signature of a received SHAREDKEY with the sender's
// public key, then decrypts it with ours.
func openKey(from *rsa.PublicKey, to *rsa.PrivateKey, enc, sig []byte) ([]byte, error) {
	h := sha1.Sum(enc)
	if err := rsa.VerifyPKCS1v15(from, crypto.SHA1, h[:], sig); err != nil {
		return nil, fmt.Errorf("%w: the session key's signature does not match the peer's public key", ErrDecrypt)
	}
	key, err := rsa.DecryptOAEP(sha1.New(), nil, to, enc, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: the session key was not encrypted to our public key", ErrDecrypt)
	}
	if len(key) != 16 {
		return nil, fmt.Errorf("%w: the session key is %d bytes, want 16", ErrDecrypt, len(key))
	}
	return key, nil
}

// keyCRC is the KEYCRC32 of an encrypted session key.
func keyCRC(enc []byte) uint32 { return crc32.ChecksumIEEE(enc) }

// Compressors are pooled per level. A DUNDi packet is mostly a few
// hundred bytes that deflate cannot shrink (85 bytes from 89 for a typical
// answer) at 5-20 µs each, a third of an encrypted lookup's cost; so
// small packets go in zlib stored blocks and only large ones (many
// answers) are deflated. Both are plain zlib streams: Asterisk's
// uncompress() reads either.
const deflateAbove = 1024

var zwriters = [2]sync.Pool{
	{New: func() any { w, _ := zlib.NewWriterLevel(io.Discard, zlib.NoCompression); return w }},
	{New: func() any { w, _ := zlib.NewWriterLevel(io.Discard, zlib.BestSpeed); return w }},
}

// compress returns the zlib form of b.
func compress(b []byte) []byte {
	pool := &zwriters[0]
	if len(b) > deflateAbove {
		pool = &zwriters[1]
	}
	var buf bytes.Buffer
	buf.Grow(len(b) + 32)
	w := pool.Get().(*zlib.Writer)
	w.Reset(&buf)
	w.Write(b)
	w.Close()
	pool.Put(w)
	return buf.Bytes()
}

var zreaders sync.Pool

// decompress inflates a zlib stream (trailing zero padding allowed) into
// at most max bytes.
func decompress(b []byte, max int) ([]byte, error) {
	br := bytes.NewReader(b)
	var r io.ReadCloser
	if v := zreaders.Get(); v != nil {
		r = v.(io.ReadCloser)
		if err := r.(zlib.Resetter).Reset(br, nil); err != nil {
			return nil, fmt.Errorf("%w: the decrypted data is not zlib (wrong session key?)", ErrDecrypt)
		}
	} else {
		var err error
		if r, err = zlib.NewReader(br); err != nil {
			return nil, fmt.Errorf("%w: the decrypted data is not zlib (wrong session key?)", ErrDecrypt)
		}
	}
	defer zreaders.Put(r)
	out, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: inflate: %v", ErrDecrypt, err)
	}
	if len(out) > max {
		return nil, fmt.Errorf("%w: the packet inflates past %d bytes", ErrTooLarge, max)
	}
	return out, nil
}

// seal encrypts packet[6:] (the command byte on) for an ENCDATA element:
// the IV, then AES-128-CBC of the zlib stream padded with zeros.
func seal(blk cipher.Block, iv []byte, packet []byte) []byte {
	return sealCompressed(blk, iv, compress(packet[6:]))
}

// sealCompressed encrypts an already compressed packet body.
func sealCompressed(blk cipher.Block, iv, z []byte) []byte {
	n := (len(z) + 15) / 16 * 16
	out := make([]byte, 16+n)
	copy(out, iv)
	copy(out[16:], z)
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(out[16:], out[16:])
	return out
}

// open decrypts an ENCDATA element into the inner packet: the first 6
// header bytes come from the outer header, the rest from the data.
func open(blk cipher.Block, outer Header, encdata []byte) ([]byte, error) {
	if len(encdata) <= 16 || len(encdata)%16 != 0 {
		return nil, fmt.Errorf("%w: ENCDATA is %d bytes", ErrMalformed, len(encdata))
	}
	pt := make([]byte, len(encdata)-16)
	cipher.NewCBCDecrypter(blk, encdata[:16]).CryptBlocks(pt, encdata[16:])
	body, err := decompress(pt, MaxPacket-6)
	if err != nil {
		return nil, err
	}
	if len(body) < 2 {
		return nil, fmt.Errorf("%w: the decrypted packet has no command byte", ErrMalformed)
	}
	inner := outer.appendTo(make([]byte, 0, 6+len(body)))[:6]
	return append(inner, body...), nil
}

func newCipher(key []byte) cipher.Block {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // key is always 16 bytes here
	}
	return b
}
