package dundi

import "context"

// Directory is where answers come from. Lookup returns every way to reach
// number in the DUNDi context dcontext: the answers carry the flags
// (EXISTS for the number itself, CANMATCH/MATCHMORE for a prefix of
// longer numbers) and, with EXISTS, the destination. No answers and no
// error means the number is unknown. ErrUnknownContext means the context
// is not served at all (the peer answers NOAUTH, as Asterisk does).
//
// Lookup is called from many goroutines at once and must honour ctx.
type Directory interface {
	Lookup(ctx context.Context, number, dcontext string) ([]Answer, error)
}

// DontAsker is an optional Directory capability: for a number with no
// answers, the shortest prefix of it that no known number starts with.
// Asterisk caches that prefix and stops asking for anything under it
// until the answer expires (the DONTASK hint).
type DontAsker interface {
	DontAsk(number, dcontext string) string
}

// LookupAppender is an optional Directory capability: Lookup that appends
// the answers to dst, so that a caller answering one lookup after another
// (the read loop, for an Instant directory) reuses one slice.
type LookupAppender interface {
	AppendLookup(ctx context.Context, dst []Answer, number, dcontext string) ([]Answer, error)
}

// Instant is an optional Directory capability: Lookup reads memory only
// and never blocks, so the peer answers inline in its read loop rather
// than in a goroutine (no goroutine, no second lock, no separate ACK).
type Instant interface {
	Instant() bool
}

// Health says whether a cluster is up (an agent alive in Serf or its
// voice VIP answering). A down cluster is never offered.
type Health interface {
	Up(cluster string) bool
}
