package srv

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// The serial must never go down, even across restarts, or secondaries
// ignore the zone until it passes the old value again. The server keeps
// (serial, digest of the answers) in the store's local, never replicated,
// key-value space when the Source can write there (*store.Store can), and
// writes it before it serves the new serial. Without that, or when the
// entry is missing, the serial starts from the clock (seconds since 1970),
// which a restart does not lower unless the clock goes back.

// localWriter is the optional capability of a Source to persist the serial.
type localWriter interface {
	WriteLocal(ctx context.Context, author string, muts []store.Mutation, local map[string][]byte) (store.WriteResult, error)
}

var _ localWriter = (*store.Store)(nil)

// serialRecord is what is kept: the serial and the answers it names.
type serialRecord struct {
	serial uint32
	digest [32]byte
	ok     bool
}

func serialKey(origin string) string { return "srv/serial/" + origin }

func loadSerial(sn *store.Snapshot, origin string) serialRecord {
	v := sn.Local(serialKey(origin))
	if len(v) != 36 {
		return serialRecord{}
	}
	r := serialRecord{serial: binary.BigEndian.Uint32(v), ok: true}
	copy(r.digest[:], v[4:])
	return r
}

func (r serialRecord) encode() []byte {
	b := make([]byte, 36)
	binary.BigEndian.PutUint32(b, r.serial)
	copy(b[4:], r.digest[:])
	return b
}

// nextSerial is the serial after prev: prev+1, or the clock when that is
// later, so agents that change at the same moment tend to agree.
func nextSerial(prev uint32, now time.Time) uint32 {
	n := prev + 1
	if t := uint32(now.Unix()); serialLess(n, t) {
		n = t
	}
	return n
}

// serialLess reports a < b in RFC 1982 serial arithmetic.
func serialLess(a, b uint32) bool { return a != b && int32(b-a) > 0 }
