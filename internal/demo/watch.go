package demo

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// AnswerWatch asks DNS servers for every cluster's SRV answers, again
// and again, and counts the answers that leave out a cluster that is live
// (a failure) among those answered. A server that does not answer (an
// agent restarting) is counted apart: a phone asks another.
type AnswerWatch struct {
	servers []netip.AddrPort
	full    map[string][]string // owner → the clusters of its SRV answer with every cluster up
	cancel  context.CancelFunc
	done    chan struct{}

	mu         sync.Mutex
	dead       map[string]bool // clusters made dead on purpose
	answers    int
	unanswered int
	omitting   int
	examples   []string
}

// WatchResult is what a watch saw.
type WatchResult struct {
	Answers    int      // SRV answers received
	Unanswered int      // queries without an answer (server down or slow)
	Omitting   int      // answers that left out a live cluster
	Examples   []string // the first few of those
}

// WatchAnswers starts watching: names are SRV owners (e.g.
// _sip._udp.tpa1.voice.example.net.), and the answers they have now at
// servers[0], with every cluster up, are the full ones.
func WatchAnswers(servers []netip.AddrPort, names []string) (*AnswerWatch, error) {
	w := &AnswerWatch{servers: servers, full: map[string][]string{}, dead: map[string]bool{}, done: make(chan struct{})}
	for _, name := range names {
		got, _, ok := srvAnswer(servers[0], name)
		if !ok || len(got) == 0 {
			return nil, fmt.Errorf("%s SRV: no answer from %s to take as the full one", name, servers[0])
		}
		w.full[name] = got
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(ctx, names)
	return w, nil
}

// SetDead marks a cluster dead on purpose (killed): answers may leave it
// out from now on.
func (w *AnswerWatch) SetDead(cluster string) {
	w.mu.Lock()
	w.dead[cluster] = true
	w.mu.Unlock()
}

// Stop ends the watch and returns what it saw.
func (w *AnswerWatch) Stop() WatchResult {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return WatchResult{Answers: w.answers, Unanswered: w.unanswered, Omitting: w.omitting, Examples: w.examples}
}

func (w *AnswerWatch) run(ctx context.Context, names []string) {
	defer close(w.done)
	var wg sync.WaitGroup
	for _, s := range w.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				for _, name := range names {
					w.check(s, name)
				}
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	wg.Wait()
}

func (w *AnswerWatch) check(server netip.AddrPort, name string) {
	got, r, ok := srvAnswer(server, name)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok {
		w.unanswered++
		return
	}
	w.answers++
	var missing []string
	for _, c := range w.full[name] {
		if !w.dead[c] && !slices.Contains(got, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		w.omitting++
		if len(w.examples) < 5 {
			// The answer's header and authority tell a server that lost
			// records from a foreign one on the port of an agent restarting.
			var auth []string
			for _, rr := range r.Ns {
				auth = append(auth, rr.String())
			}
			w.examples = append(w.examples, fmt.Sprintf("%s at %s: %v, without live %v (%s; aa=%v tc=%v, authority %q)", name, server, got, missing,
				time.Now().Format("15:04:05.000"), r.Authoritative, r.Truncated, auth))
		}
	}
}

// srvAnswer asks for name's SRV records and returns their targets' first
// labels (the clusters) and the answer itself; false when the server did
// not answer. A truncated answer is asked again over TCP, and a message
// that is not a response is ignored, as a phone's resolver does.
func srvAnswer(server netip.AddrPort, name string) ([]string, *dns.Msg, bool) {
	r := exchangeSRV(server, name, "udp")
	if r != nil && r.Truncated {
		r = exchangeSRV(server, name, "tcp")
	}
	// A message without the response bit is not an answer: while an
	// agent restarts, another test's UDP echo server may hold its port
	// for a moment and send the query back (CI saw it twice).
	if r == nil || !r.Response || r.Rcode != dns.RcodeSuccess {
		return nil, r, false
	}
	var out []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, strings.SplitN(s.Target, ".", 2)[0])
		}
	}
	return out, r, true
}

func exchangeSRV(server netip.AddrPort, name, network string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeSRV)
	m.RecursionDesired = false
	r, _, err := (&dns.Client{Net: network, Timeout: 300 * time.Millisecond}).Exchange(m, server.String())
	if err != nil {
		return nil
	}
	return r
}

// SRVClusters asks server for name's SRV records and returns the clusters
// their targets name; false when the server did not answer.
func SRVClusters(server netip.AddrPort, name string) ([]string, bool) {
	got, _, ok := srvAnswer(server, name)
	return got, ok
}
