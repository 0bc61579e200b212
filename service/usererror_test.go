package service

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pbxtopo/pbxtopo/replicator/raftstore"
	"github.com/pbxtopo/pbxtopo/store"
)

// Each store error reaches the caller with the code that says whose
// problem it is; a cluster between Raft leaders is 503 (try again), not
// an internal error (the live chaos probes saw 500 during elections).
func TestUserErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("extensions/6105: %w", store.ErrNotFound), 404},
		{fmt.Errorf("x: %w", store.ErrExists), 409},
		{fmt.Errorf("x: %w", store.ErrPrecondition), 412},
		{fmt.Errorf("x: %w", store.ErrPruned), 410},
		{fmt.Errorf("x: %w", store.ErrDiskFull), 503},
		{fmt.Errorf("%w (node a is candidate)", raftstore.ErrNoLeader), 503},
		{fmt.Errorf("x: %w", raftstore.ErrUncertain), 500},
		{errors.New("boom"), 500},
	} {
		var ae *Error
		if !errors.As(UserError(c.err), &ae) || ae.Code != c.code {
			t.Errorf("%v: %+v, want code %d", c.err, ae, c.code)
		}
	}
}
