package replicator

import (
	"fmt"
	"net/http"
	"strconv"
)

// VersionHeader carries a puller's newest protocol version beside the
// message. An agent that predates negotiation ignores it and answers in
// version 1, which every version reads; so a rolling upgrade across
// clusters needs no flag day: each link speaks the newest version both of
// its ends know, and says which in repl status.
const VersionHeader = "X-Pbxtopo-Protocol"

// maxProtocol is the newest version this replica speaks.
func (r *Replicator) maxProtocol() uint16 {
	if r.cfg.MaxProtocol != 0 {
		return r.cfg.MaxProtocol
	}
	return ProtocolVersion
}

// negotiate picks the version of an answer to a puller that speaks up to
// theirs (0: a puller that predates negotiation, version 1).
func (r *Replicator) negotiate(theirs uint16) (uint16, error) {
	if theirs == 0 {
		theirs = MinProtocolVersion
	}
	if theirs < MinProtocolVersion {
		return 0, fmt.Errorf("%w %d: this agent speaks %d to %d; upgrade the older agent", ErrVersion, theirs, MinProtocolVersion, r.maxProtocol())
	}
	return min(theirs, r.maxProtocol()), nil
}

// requestVersion reads the VersionHeader of a pull (0 when absent).
func requestVersion(req *http.Request) (uint16, error) {
	h := req.Header.Get(VersionHeader)
	if h == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(h, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a version number", ErrMessage, VersionHeader, h)
	}
	return uint16(v), nil
}
