// Package backoff is pbxtopo's one retry wait: it doubles after each
// failure up to a cap and starts over after a success, with optional
// jitter so that the agents of a site do not retry in step. The
// replicator's links, the MySQL bridge, the AMI client and the DUNDi
// publisher use it.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait before the next try: Min after the first failure,
// doubled per further failure, never above Max.
type Backoff struct {
	Min, Max time.Duration
	// Jitter spreads each wait by ±Jitter of itself (0.2: ±20%).
	Jitter   float64
	failures int
}

// Delay is the wait after failures consecutive failures (1 or more).
func (b *Backoff) Delay(failures int) time.Duration {
	d := b.Min
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.Jitter > 0 {
		d = time.Duration(float64(d) * (1 - b.Jitter + 2*b.Jitter*rand.Float64()))
	}
	return d
}

// Next counts one more failure and returns the wait before the next try.
func (b *Backoff) Next() time.Duration {
	b.failures++
	return b.Delay(b.failures)
}

// Reset starts over at Min: the last try succeeded.
func (b *Backoff) Reset() { b.failures = 0 }
