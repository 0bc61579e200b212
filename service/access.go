package service

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Who may change which table: the one rule of every write. It is applied
// under the Service, on the store every write goes through (roleStore),
// so the API's routes, import, batch, move, revert, conflicts, audit
// acknowledgements, topology and decommissioning all obey it, and a new
// route or command cannot forget it. A route may ask for more (revert and
// conflicts need admin), never for less.

// operatorTables are the tables the operator role may change; every
// other table (clusters, sites, trunks, ACLs, groups, hours, audit
// acknowledgements, the topology, the revocation list...) needs admin.
var operatorTables = map[string]bool{pbx.Extensions.Name: true, pbx.HotDesks.Name: true}

// WriteRole returns the role a change to table needs.
func WriteRole(table string) Role {
	if operatorTables[table] {
		return RoleOperator
	}
	return RoleAdmin
}

// SecretRole is the role that reads secret fields (SIP secrets, PINs);
// below it they are redacted, and sorting, filtering or searching by
// them is refused, since the order of the rows would give them away.
const SecretRole = RoleAdmin

// CanReadSecrets reports whether the caller of ctx sees secrets.
func CanReadSecrets(ctx context.Context) bool { return RoleFrom(ctx).Allows(SecretRole) }

// ErrForbidden: the caller's role does not allow the operation.
var ErrForbidden = errors.New("forbidden")

// CheckWrite refuses a change to table beyond the caller's role.
func CheckWrite(ctx context.Context, table string) error {
	need, have := WriteRole(table), RoleFrom(ctx)
	if have.Allows(need) {
		return nil
	}
	return &Error{Code: 403, Err: ErrForbidden,
		Msg: fmt.Sprintf("changing %s needs the %s role; your token has %s (ask an admin)", table, need, have)}
}

// roleStore applies CheckWrite to every write and revert.
type roleStore struct{ Store }

func (s roleStore) Write(ctx context.Context, author string, muts []store.Mutation) (store.WriteResult, error) {
	tables := map[string]bool{}
	for _, m := range muts {
		tables[m.Table] = true
	}
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	sort.Strings(names) // the same message for the same write
	for _, t := range names {
		if err := CheckWrite(ctx, t); err != nil {
			return store.WriteResult{}, err
		}
	}
	return s.Store.Write(ctx, author, muts)
}

// Revert checks the table of the change it backs out; a change it cannot
// find is left to the store, which says so.
func (s roleStore) Revert(ctx context.Context, author string, id store.Dot) (store.WriteResult, *store.Change, error) {
	var table string
	s.Store.View(func(sn *store.Snapshot) error {
		if e, err := sn.Change(id); err == nil {
			table = e.Change.Table
		}
		return nil
	})
	if table != "" {
		if err := CheckWrite(ctx, table); err != nil {
			return store.WriteResult{}, nil, err
		}
	}
	return s.Store.Revert(ctx, author, id)
}

// refuseSecretQuery refuses to order or select rows by a secret field for
// a caller who may not read it.
func refuseSecretQuery(ctx context.Context, t *pbx.Table, q Query) error {
	if CanReadSecrets(ctx) {
		return nil
	}
	if s, ok := t.Spec(q.Sort); ok && s.Secret {
		return &Error{Code: 403, Err: ErrForbidden, Msg: fmt.Sprintf("cannot sort %s by %s: it is a secret, which only the %s role reads; sort by another column",
			t.Name, q.Sort, SecretRole)}
	}
	return nil
}
