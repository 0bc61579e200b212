package agent

import (
	"os"
	"runtime/debug"
)

// DefaultMemoryLimitMB is memory_limit_mb's default: the Go runtime's soft
// limit of the agent's own memory (its heap, stacks and runtime data; not
// the mapped store file, which the kernel pages in and out). Below it the
// garbage collector runs as GOGC says; near it, more often, and the
// runtime returns freed memory to the system at once instead of keeping
// it after a peak (a catch-up, a large import). It is soft: an agent that
// needs more gets it, at the cost of more collection work. 640 (768
// before) keeps an agent holding a million extensions and serving 5,000
// clients under 1 GB resident with the store's mapped pages
// (docs/performance.md, "Memory of a large enterprise").
const DefaultMemoryLimitMB = 640

// MinMemoryLimitMB is the smallest limit accepted: below it an agent with
// a large enterprise would spend its CPU collecting.
const MinMemoryLimitMB = 64

// SetMemoryLimit applies memory_limit_mb to this process (0: none, the Go
// runtime's own default). GOMEMLIMIT in the environment wins, as it does
// for every Go program. It returns the limit in force, in bytes (-1: none
// set here).
func SetMemoryLimit(mb int) int64 {
	if mb <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return -1
	}
	debug.SetMemoryLimit(int64(mb) << 20)
	return int64(mb) << 20
}
