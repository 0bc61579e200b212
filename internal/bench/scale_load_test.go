package bench

import (
	"testing"
	"time"
)

// The steady-state row of the scale suite fails, rather than print 0 ms,
// when no answer came after the start.
func TestSteadyRowFailsWithoutAnswers(t *testing.T) {
	if r := steadyRow("p99", nil, 2*time.Second, 5000); r.Error == "" || r.Value != 0 {
		t.Fatalf("row %+v: want a failure", r)
	}
	r := steadyRow("p99", []time.Duration{time.Millisecond, 3 * time.Millisecond}, time.Second, 5000)
	if r.Error != "" || r.Value != 1 {
		t.Fatalf("row %+v: want 1 ms", r)
	}
}
