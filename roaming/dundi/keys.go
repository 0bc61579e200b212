package dundi

import (
	"bytes"
	"crypto/cipher"
	"crypto/rsa"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// peerState is a configured peer and what the peer has learnt about it:
// its address, session keys and reachability. Guarded by Peer.mu.
type peerState struct {
	peerSpec
	addr   netip.AddrPort // static, or where it registered from (invalid until then)
	regExp time.Time      // when a dynamic registration lapses

	pub  *rsa.PublicKey  // theirs (inkey): encrypt to them, verify them
	priv *rsa.PrivateKey // ours toward them (outkey): sign, decrypt

	tx          txKey // our session key toward them
	sentFullKey bool  // they have had tx in a SHAREDKEY
	rx          rxKey // their session key toward us

	lastRTT   time.Duration // last qualify round trip; 0 unknown
	reachable int           // 0 unknown, 1 reachable, -1 unreachable
	nextQual  time.Time
	qualTx    time.Time
	qualTrans *transaction
	nextReg   time.Time
	regTrans  *transaction
}

type txKey struct {
	blk      cipher.Block
	enc, sig []byte
	crc      uint32
	expires  time.Time
}

type rxKey struct {
	blk      cipher.Block
	enc, sig []byte
	crc      uint32
}

// encrypted reports whether packets to and from the peer are encrypted.
func (ps *peerState) encrypted() bool { return ps.pub != nil }

// clearAllowed reports whether a clear packet from addr is accepted.
func (ps *peerState) clearAllowed(from netip.Addr) bool {
	if !ps.cfg.Unencrypted {
		return false
	}
	from = from.Unmap()
	if len(ps.allowFrom) == 0 {
		return ps.addr.IsValid() && ps.addr.Addr().Unmap() == from
	}
	for _, p := range ps.allowFrom {
		if p.Contains(from) {
			return true
		}
	}
	return false
}

// updateKey makes a new session key toward the peer when there is none
// or it expired (Asterisk's update_key).
func (ps *peerState) updateKey(rnd io.Reader, now time.Time, ttl time.Duration) error {
	if ps.tx.blk != nil && now.Before(ps.tx.expires) {
		return nil
	}
	if ps.pub == nil || ps.priv == nil {
		return fmt.Errorf("%w: peer %s has no key pair for encryption", ErrBadKey, ps.eid)
	}
	key := make([]byte, 16)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return err
	}
	enc, sig, err := sealKey(rnd, ps.pub, ps.priv, key)
	if err != nil {
		return err
	}
	ps.tx = txKey{blk: newCipher(key), enc: enc, sig: sig, crc: keyCRC(enc), expires: now.Add(ttl)}
	ps.sentFullKey = false
	return nil
}

// checkKey accepts the session key of an ENCRYPT's first packet: a known
// KEYCRC32, the SHAREDKEY already held, or a new SHAREDKEY whose signature
// verifies (Asterisk's check_key).
func (ps *peerState) checkKey(m *Message) error {
	if ps.rx.blk != nil && m.HasKeyCRC32 && m.KeyCRC32 == ps.rx.crc {
		return nil
	}
	if m.SharedKey == nil || m.Signature == nil {
		if m.HasKeyCRC32 {
			return fmt.Errorf("%w: KEYCRC32 %d names a session key we do not hold (we restarted?); the peer resends the full key", ErrDecrypt, m.KeyCRC32)
		}
		return fmt.Errorf("%w: no SHAREDKEY/SIGNATURE and no KEYCRC32", ErrDecrypt)
	}
	if ps.rx.blk != nil && bytes.Equal(ps.rx.enc, m.SharedKey) && bytes.Equal(ps.rx.sig, m.Signature) {
		return nil
	}
	if ps.pub == nil || ps.priv == nil {
		return fmt.Errorf("%w: peer %s sends encrypted packets but has no public_key here", ErrDecrypt, ps.eid)
	}
	key, err := openKey(ps.pub, ps.priv, m.SharedKey, m.Signature)
	if err != nil {
		return err
	}
	ps.rx = rxKey{blk: newCipher(key), enc: bytes.Clone(m.SharedKey), sig: bytes.Clone(m.Signature), crc: keyCRC(m.SharedKey)}
	return nil
}
