package mysql

import "time"

// The bridge's states.
const (
	StateStopped   = "stopped"   // Run is not running
	StateDumping   = "dumping"   // taking a consistent dump (no checkpoint, or the position is gone)
	StateFollowing = "following" // streaming the binlog
	StateRetrying  = "retrying"  // the connection failed; reconnecting with backoff
	StateBlocked   = "blocked"   // a table or server setting needs an admin; retried with backoff, position kept
)

// BridgeStatus is the bridge's state for 'pbxtopo repl status' and metrics.
type BridgeStatus struct {
	State      string    `json:"state"`
	DSN        string    `json:"dsn"` // password hidden
	Mapping    string    `json:"mapping"`
	Tables     []string  `json:"tables"`
	Server     string    `json:"server,omitempty"` // the server's version
	ServerID   uint32    `json:"server_id,omitempty"`
	Position   string    `json:"position,omitempty"` // binlog file:pos taken into the store
	GTID       string    `json:"gtid,omitempty"`
	LastEvent  time.Time `json:"last_event,omitzero"` // time stamp of the last binlog event read
	LagSeconds float64   `json:"lag_seconds"`         // how far the binlog reader is behind the server
	Caught     bool      `json:"caught_up"`           // the reader has reached the end of the binlog once

	RowsIn      uint64    `json:"rows_in"`     // binlog rows taken into the store
	ChangesIn   uint64    `json:"changes_in"`  // store changes they made
	EchoRows    uint64    `json:"echo_rows"`   // the bridge's own rows seen in the binlog and skipped
	RowsOut     uint64    `json:"rows_out"`    // rows written or deleted in MySQL
	TxnsOut     uint64    `json:"txns_out"`    // SQL transactions committed
	FullPasses  uint64    `json:"full_passes"` // comparisons of every record with what MySQL holds
	Dumps       uint64    `json:"dumps"`       // consistent dumps taken
	Reconnects  uint64    `json:"reconnects"`  // failures retried
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`

	// Parked are the rows that could not be taken in or written out, each
	// with its key, column and fix; everything else goes on.
	Parked []ParkedRow `json:"parked,omitempty"`
}

// Status returns a copy of the bridge's status.
func (b *Bridge) Status() BridgeStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.status
	s.Tables = append([]string(nil), s.Tables...)
	s.LagSeconds = b.lagLocked(time.Now())
	s.Parked = b.parkedLocked()
	return s
}

// lagLocked is how far the binlog reader is behind, as of now: the time
// since it last had read everything the server had (it learns that from
// an idle stream or the server's heartbeat) or since the server wrote the
// last event it read, whichever is later. It grows while the reader is
// stopped or cut off, and is 0 until the reader first caught up.
func (b *Bridge) lagLocked(now time.Time) float64 {
	ref := b.caughtAt
	if b.status.LastEvent.After(ref) {
		ref = b.status.LastEvent
	}
	if ref.IsZero() {
		return 0
	}
	return max(0, now.Sub(ref).Seconds())
}

func (b *Bridge) setState(state string, fn func(*BridgeStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if state != "" {
		b.status.State = state
	}
	if fn != nil {
		fn(&b.status)
	}
}

func (b *Bridge) update(fn func(*BridgeStatus)) { b.setState("", fn) }
