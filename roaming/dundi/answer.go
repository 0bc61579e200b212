package dundi

import (
	"fmt"
	"strings"
)

// Tech is the protocol of an answer's destination.
type Tech byte

// The protocols of include/asterisk/dundi.h.
const (
	TechNone  Tech = 0
	TechIAX2  Tech = 1
	TechSIP   Tech = 2
	TechH323  Tech = 3
	TechPJSIP Tech = 4
)

// String names the tech as Asterisk's lookup output does (IAX2, SIP...).
func (t Tech) String() string {
	switch t {
	case TechNone:
		return "None"
	case TechIAX2:
		return "IAX2"
	case TechSIP:
		return "SIP"
	case TechH323:
		return "H323"
	case TechPJSIP:
		return "PJSIP"
	}
	return "Unknown"
}

// ParseTech reads a tech name as Asterisk's mapping parser does.
func ParseTech(s string) (Tech, error) {
	switch strings.ToUpper(s) {
	case "IAX", "IAX2":
		return TechIAX2, nil
	case "SIP":
		return TechSIP, nil
	case "H323":
		return TechH323, nil
	case "PJSIP":
		return TechPJSIP, nil
	}
	return 0, fmt.Errorf("unknown tech %q: use IAX2, SIP, PJSIP or H323", s)
}

// MarshalText writes the tech's name.
func (t Tech) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Flags describe an answer.
type Flags uint16

// Answer flags.
const (
	FlagExists         Flags = 1 << 0 // the number is valid
	FlagMatchMore      Flags = 1 << 1 // it may be valid with more digits
	FlagCanMatch       Flags = 1 << 2 // it may match
	FlagIgnorePat      Flags = 1 << 3 // keep dial tone
	FlagResidential    Flags = 1 << 4
	FlagCommercial     Flags = 1 << 5
	FlagMobile         Flags = 1 << 6
	FlagNoUnsolicited  Flags = 1 << 7
	FlagNoComUnsolicit Flags = 1 << 8
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagExists, "EXISTS"}, {FlagMatchMore, "MATCHMORE"}, {FlagCanMatch, "CANMATCH"}, {FlagIgnorePat, "IGNOREPAT"},
	{FlagResidential, "RESIDENCE"}, {FlagCommercial, "COMMERCIAL"}, {FlagMobile, "MOBILE"},
	{FlagNoUnsolicited, "NOUNSLCTD"}, {FlagNoComUnsolicit, "NOCOMUNSLTD"},
}

// String lists the flags as Asterisk does: EXISTS|CANMATCH, or NONE.
func (f Flags) String() string {
	var names []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "NONE"
	}
	return strings.Join(names, "|")
}

// MarshalText writes the flags' names.
func (f Flags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// HintString lists hint flags as Asterisk does: DONTASK|UNAFFECTED, or NONE.
func HintString(flags uint16) string {
	var names []string
	for _, n := range []struct {
		f    uint16
		name string
	}{{HintTTLExpired, "TTLEXPIRED"}, {HintDontAsk, "DONTASK"}, {HintUnaffected, "UNAFFECTED"}} {
		if flags&n.f != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "NONE"
	}
	return strings.Join(names, "|")
}

// MaxWeight is the largest weight Asterisk accepts in a mapping.
const MaxWeight = 59999

// Answer is one way to reach a number: the ANSWER element, plus the
// cluster it leads to when a Directory made it.
type Answer struct {
	Cluster string `json:"cluster,omitempty"` // not on the wire
	EID     EID    `json:"eid"`               // the entity that answers for it
	Tech    Tech   `json:"tech"`
	Dest    string `json:"destination"` // e.g. "priv:secret@10.0.0.1/5020"; empty unless EXISTS
	Weight  int    `json:"weight"`      // lower is preferred, 0..59999
	Flags   Flags  `json:"flags"`
}

// Result is an answer as a lookup returns it.
type Result struct {
	Answer
	Expiration int    `json:"expiration"` // seconds it may be cached
	From       string `json:"from"`       // the peer that answered (address)
}
