package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pbxtopo/pbxtopo/service"
)

// Load shedding: an agent serves at most MaxInflight API requests at
// once. A request beyond that waits up to QueueWait for a slot, then is
// refused with 503 and Retry-After, so a crowd of clients gets quick
// refusals for the excess instead of slow answers for everyone. The
// health route is never shed: a load balancer must still see the agent.

// ShedConfig bounds the API requests served at once.
type ShedConfig struct {
	// MaxInflight is how many requests are served at once; 0 serves
	// every request (no shedding).
	MaxInflight int `mapstructure:"max_inflight"`
	// QueueWait is how long a request waits for a slot before its 503.
	QueueWait time.Duration `mapstructure:"queue_wait"`
}

// DefaultShedConfig serves 64 requests at once, each waiting at most
// 250 ms for its turn: on two CPUs, answers stay within about half a
// second however many clients come.
func DefaultShedConfig() ShedConfig {
	return ShedConfig{MaxInflight: 64, QueueWait: 250 * time.Millisecond}
}

// shedder hands out the slots.
type shedder struct {
	slots chan struct{}
	wait  time.Duration
}

func newShedder(c ShedConfig) *shedder {
	if c.MaxInflight <= 0 {
		return nil
	}
	return &shedder{slots: make(chan struct{}, c.MaxInflight), wait: c.QueueWait}
}

// wrap serves h within a slot, or answers 503 when none frees in time.
func (s *shedder) wrap(h http.Handler) http.Handler {
	if s == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
		default:
			t := time.NewTimer(s.wait)
			select {
			case s.slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				s.refuse(w)
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		defer func() { <-s.slots }()
		h.ServeHTTP(w, r)
	})
}

func (s *shedder) refuse(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.wait.Round(time.Second)/time.Second))))
	writeError(w, &service.Error{Code: 503, Msg: "the agent is serving as many requests as it can (http.max_inflight " + strconv.Itoa(cap(s.slots)) +
		"): retry in a second"})
}
