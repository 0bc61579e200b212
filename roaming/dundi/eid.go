package dundi

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// EID is a DUNDi entity identifier: 6 bytes, written like a MAC address
// (02:00:00:00:00:0a).
type EID [6]byte

// String returns the EID as Asterisk prints it: lower-case hex pairs
// joined by colons.
func (e EID) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", e[0], e[1], e[2], e[3], e[4], e[5])
}

// Short returns the EID as 12 upper-case hex digits, the form Asterisk
// uses in cache keys.
func (e EID) Short() string {
	return fmt.Sprintf("%02X%02X%02X%02X%02X%02X", e[0], e[1], e[2], e[3], e[4], e[5])
}

// IsZero reports whether the EID is all zeros (unset).
func (e EID) IsZero() bool { return e == EID{} }

// MarshalText writes the colon form.
func (e EID) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText reads the colon or short form.
func (e *EID) UnmarshalText(b []byte) error {
	v, err := ParseEID(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// ParseEID reads an EID written as six hex pairs separated by ':' or '-'
// (02:00:00:00:00:0a) or as 12 hex digits (02000000000A).
func ParseEID(s string) (EID, error) {
	var e EID
	t := strings.TrimSpace(s)
	if len(t) == 12 && !strings.ContainsAny(t, ":-") {
		t = t[0:2] + ":" + t[2:4] + ":" + t[4:6] + ":" + t[6:8] + ":" + t[8:10] + ":" + t[10:12]
	}
	parts := strings.FieldsFunc(t, func(r rune) bool { return r == ':' || r == '-' })
	if len(parts) != 6 || strings.Count(t, ":")+strings.Count(t, "-") != 5 {
		return e, fmt.Errorf("entity id %q: want six hex pairs like 02:00:00:00:00:0a", s)
	}
	for i, p := range parts {
		if len(p) != 2 || !isHex(p[0]) || !isHex(p[1]) {
			return e, fmt.Errorf("entity id %q: %q is not a hex pair (want six pairs like 02:00:00:00:00:0a)", s, p)
		}
		e[i] = unhex(p[0])<<4 | unhex(p[1])
	}
	return e, nil
}

// ClusterEID derives a stable EID from a cluster name: a locally
// administered unicast address from a hash of the name, so every agent
// names every cluster the same way without configuration. Answers name
// the cluster they lead to with it (StoreDirectoryConfig.EIDOf).
//
// It is the entity id roaming.EntityID writes into each cluster's
// dundi.conf, so an answer names the cluster as its Asterisk names itself.
func ClusterEID(cluster string) EID {
	h := sha256.Sum256([]byte("pbxtopo dundi entity id\x00" + cluster))
	return EID{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// AgentEID derives a stable EID for the agent of a node, distinct from
// every ClusterEID, for a dundi.eid left empty.
func AgentEID(node string) EID { return derive("pbxtopo dundi agent " + node) }

func derive(s string) EID {
	h := sha256.Sum256([]byte(s))
	var e EID
	copy(e[:], h[:6])
	e[0] = e[0]&0xfc | 0x02 // unicast, locally administered
	return e
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
