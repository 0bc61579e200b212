package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
)

var errorsIs = errors.Is

// Sentinel errors. Callers test them with errors.Is; the messages wrapped
// around them name the record and say what to do.
var (
	// ErrNotFound: the record does not exist (or is deleted).
	ErrNotFound = errors.New("not found")
	// ErrExists: a create found the record already there.
	ErrExists = errors.New("already exists")
	// ErrPrecondition: the record changed since the writer read it.
	ErrPrecondition = errors.New("record changed since it was read")
	// ErrInvalid: the write or batch itself is malformed.
	ErrInvalid = errors.New("invalid request")
	// ErrSelfOrigin: a remote batch claims changes of this replica that it never made.
	ErrSelfOrigin = errors.New("batch claims to originate from this replica")
	// ErrUnavailable: the write cannot be taken now (a Raft cluster
	// between leaders) and nothing was written: try again shortly.
	ErrUnavailable = errors.New("unavailable")
	// ErrReadOnly: the store was opened read-only.
	ErrReadOnly = errors.New("store is read-only")
	// ErrInUse: another process holds the store.
	ErrInUse = errors.New("store is in use by another process")
	// ErrNewerSchema: the store was written by a newer pbxtopo.
	ErrNewerSchema = errors.New("store was written by a newer pbxtopo")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store is closed")
	// ErrBadBackup: the file is not a backup, or it is truncated or corrupt.
	ErrBadBackup = errors.New("not a valid pbxtopo backup")
	// ErrDiskFull: the disk holding the store is (nearly) full. Errors
	// that carry it also carry ErrReadOnly: the store refuses writes until
	// space is back, then resumes by itself.
	ErrDiskFull = errors.New("the disk is full")
	// ErrPruned: the history needed is older than the retained log.
	ErrPruned = errors.New("older than the retained history")
	// ErrConflict: a write to a record in conflict that names no side;
	// the error is a *ConflictError that lists them.
	ErrConflict = errors.New("the record is in conflict")
)

// ConflictError refuses a write that would have to guess which side of
// a conflict it changes: a change of a field in conflict that does not
// say it resolves it, or any write to a record deleted on one side and
// changed on the other. It names every side, so the writer can pick one.
type ConflictError struct {
	Table, Key string
	Conflicts  []FieldConflict
}

func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s is in conflict", e.Table, e.Key)
	for i, c := range e.Conflicts {
		if i > 0 {
			b.WriteString(";")
		}
		if c.Unit == pbx.WholeRecord {
			b.WriteString(": the record")
		} else {
			fmt.Fprintf(&b, ": %s", strings.Join(c.Fields, "+"))
		}
		b.WriteString(" differs between ")
		for j, s := range c.Sides {
			if j > 0 {
				b.WriteString(" and ")
			}
			fmt.Fprintf(&b, "%s (%s by %s", s.Dot.Stream.Cluster(), s.Dot, s.Author)
			if s.Deleted {
				b.WriteString(", deleted")
			}
			b.WriteString(")")
		}
	}
	b.WriteString(": name the side to keep, or resolve the conflict first")
	return b.String()
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// invalidRecord is a record the model refused inside the write
// transaction (a patch that fails validation): a refusal, ErrInvalid,
// that keeps the model's error for errors.As.
type invalidRecord struct{ err error }

func (e invalidRecord) Error() string   { return e.err.Error() }
func (e invalidRecord) Unwrap() []error { return []error{ErrInvalid, e.err} }
