package service

import (
	"context"
	"errors"

	"github.com/pbxtopo/pbxtopo/store"
)

// update runs a read-modify-write that the store cannot do by itself:
// build reads what it needs from one snapshot and returns mutations that
// name what it read (see supersede), so the store refuses them if any of
// it changed in between. update then reads again, through the leader when
// the node follows one (its own copy may be what is behind), and retries:
// nothing is ever written over a change the writer did not see.
func (s *Service) update(ctx context.Context, build func(sn *store.Snapshot) ([]store.Mutation, error)) (*WriteReply, error) {
	const tries = 5
	for attempt := 1; ; attempt++ {
		var muts []store.Mutation
		err := s.st.View(func(sn *store.Snapshot) error {
			var err error
			muts, err = build(sn)
			return err
		})
		if err != nil {
			return nil, UserError(err)
		}
		reply, err := s.write(ctx, muts)
		if !errors.Is(err, store.ErrPrecondition) && !errors.Is(err, store.ErrExists) || attempt == tries {
			return reply, err
		}
		if err := s.ReadBarrier(ctx); err != nil {
			return nil, err
		}
	}
}

// supersede returns a mutation of table/key that replaces exactly what sn
// holds: a create when there is nothing, else an If-Match on the version
// read. A record in conflict is refused with its sides: the writer must
// say which one it changes.
func supersede(sn *store.Snapshot, table, key string) (store.Mutation, *store.Record, error) {
	m := store.Mutation{Table: table, Key: key}
	r, err := sn.Get(table, key)
	switch {
	case err != nil:
		return m, nil, err
	case r == nil:
		m.Must = store.MustNotExist
	case r.Conflict():
		return m, r, conflictError(&store.ConflictError{Table: table, Key: key, Conflicts: r.Conflicts()})
	default:
		m.IfMatch = r.Dots()
	}
	return m, r, nil
}
