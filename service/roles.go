package service

import (
	"context"
	"fmt"
	"strings"
)

// Role is what a token may do. Each role includes the ones below it.
type Role int

const (
	RoleNone     Role = iota
	RoleRead          // NOC: everything but secrets, which are redacted
	RoleOperator      // extensions, hot desks, batch creation
	RoleAdmin         // topology, trunks, ACLs, conflicts, revert, tokens
)

var roleNames = []string{"none", "read", "operator", "admin"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return r >= need }

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames[1:] {
		if strings.EqualFold(s, n) {
			return Role(i + 1), nil
		}
	}
	return RoleNone, fmt.Errorf("unknown role %q: use read, operator or admin", s)
}

type roleKey struct{}

// WithRole returns a context carrying the caller's role and name; writes
// made with it are attributed to the name.
func WithRole(ctx context.Context, role Role, who string) context.Context {
	return WithAuthor(context.WithValue(ctx, roleKey{}, role), who)
}

// RoleFrom returns the caller's role. A context without one (the CLI
// working offline on its own store) is trusted as admin.
func RoleFrom(ctx context.Context) Role {
	if r, ok := ctx.Value(roleKey{}).(Role); ok {
		return r
	}
	return RoleAdmin
}
