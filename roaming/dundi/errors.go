package dundi

import (
	"errors"
	"fmt"
)

// Sentinel errors, tested with errors.Is. Messages wrapped around them
// name the packet, peer or config key and say what to do.
var (
	// ErrMalformed: a packet is not valid DUNDi (bad length, bad element).
	ErrMalformed = errors.New("malformed DUNDi packet")
	// ErrTruncated: a packet is shorter than its header or an element says.
	ErrTruncated = errors.New("truncated DUNDi packet")
	// ErrTooLarge: a packet or answer set does not fit in MaxPacket bytes.
	ErrTooLarge = errors.New("DUNDi packet too large")
	// ErrBadKey: a key file is missing, unreadable or not a 1024-bit RSA key.
	ErrBadKey = errors.New("bad DUNDi key")
	// ErrDecrypt: an ENCRYPT packet could not be verified or decrypted.
	ErrDecrypt = errors.New("cannot decrypt DUNDi packet")
	// ErrConfig: the configuration is invalid.
	ErrConfig = errors.New("invalid DUNDi configuration")
	// ErrUnknownContext: the directory has no mapping for a DUNDi context.
	ErrUnknownContext = errors.New("unknown DUNDi context")
	// ErrTimeout: a peer did not answer after every retransmission.
	ErrTimeout = errors.New("no answer from DUNDi peer")
	// ErrRefused: a peer answered with a failure cause (NOAUTH...).
	ErrRefused = errors.New("DUNDi peer refused the query")
	// ErrNoPeers: no configured peer may be asked in this context.
	ErrNoPeers = errors.New("no DUNDi peer to ask")
	// ErrClosed: the peer has been closed.
	ErrClosed = errors.New("DUNDi peer is closed")
)

// RefusedError is a peer's answer that refuses a query: a failure cause
// (NOAUTH...) or a rejection of our encryption (ENCREJ). It is ErrRefused
// for errors.Is; errors.As gives the cause, so callers never match text.
type RefusedError struct {
	Addr      string // the peer
	Cause     int    // the answer's cause (CauseNoAuth...); 0 with EncRej
	CauseText string // the peer's own words with the cause, if any
	EncRej    bool   // the peer rejected our encryption
}

func (e *RefusedError) Error() string {
	if e.EncRej {
		return fmt.Sprintf("%v: %s rejected our encryption (ENCREJ): check that its inkey is our public key and our public_key is its key", ErrRefused, e.Addr)
	}
	text := CauseName(e.Cause)
	if e.CauseText != "" {
		text += " (" + e.CauseText + ")"
	}
	return fmt.Sprintf("%v: %s answered %s", ErrRefused, e.Addr, text)
}

// Is makes a RefusedError ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }
