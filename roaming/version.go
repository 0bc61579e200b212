package roaming

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// Version names the state of a store that something was made from: a
// short hash of the store's summary (the highest sequence number applied
// of every stream, so two replicas that hold the same changes have the
// same hash), the number of changes it covers, and the newest change's
// hybrid logical clock time.
type Version struct {
	Summary string    `json:"summary"`         // first 12 hex digits of SHA-256 over "stream seq\n", by stream
	Changes uint64    `json:"changes"`         // sum of the summary's sequence numbers
	Newest  time.Time `json:"newest,omitzero"` // wall time of the highest HLC among the streams' last changes
}

func (v Version) String() string {
	s := fmt.Sprintf("%s (%d changes", v.Summary, v.Changes)
	if !v.Newest.IsZero() {
		s += ", newest " + v.Newest.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return s + ")"
}

// StoreVersion returns the version of the snapshot. The newest time comes
// from the last change of each stream that is still in the log (a stream
// whose last change was pruned contributes none).
func StoreVersion(sn *store.Snapshot) (Version, error) {
	sum, err := sn.Summary()
	if err != nil {
		return Version{}, err
	}
	h := sha256.New()
	var v Version
	var newest store.HLC
	for _, st := range sum.Streams() {
		seq := sum[st]
		fmt.Fprintf(h, "%s %d\n", st, seq)
		v.Changes += seq
		if e, err := sn.Change(store.Dot{Stream: st, Seq: seq}); err == nil && e.Change.HLC > newest {
			newest = e.Change.HLC
		}
	}
	v.Summary = hex.EncodeToString(h.Sum(nil))[:12]
	if newest != 0 {
		v.Newest = newest.Time()
	}
	return v, nil
}
