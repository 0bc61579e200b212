package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
	"github.com/pbxtopo/pbxtopo/service"
)

func agentQuery(limit int) service.Query { return service.Query{Limit: limit} }

// apiKind is one kind of request to the extension listing.
type apiKind struct {
	name   string
	search bool // a search, not a listing page
	share  int  // percent of the 5,000 clients' requests
	query  func(r *rand.Rand, n int) url.Values
}

// apiKinds are the listings and searches measured, and the mix the
// concurrent clients send.
var apiKinds = []apiKind{
	{"first page, no filter", false, 5, func(r *rand.Rand, n int) url.Values { return url.Values{"limit": {"50"}} }},
	{"a page in the middle (offset n/2)", false, 0, func(r *rand.Rand, n int) url.Values {
		return url.Values{"limit": {"50"}, "offset": {strconv.Itoa(n / 2)}}
	}},
	{"a group's first page sorted by name", false, 10, func(r *rand.Rand, n int) url.Values {
		return url.Values{"limit": {"50"}, "group": {groupNames[r.Intn(len(groupNames))]}, "sort": {"name"}}
	}},
	{"a cluster's first page", false, 10, func(r *rand.Rand, n int) url.Values {
		return url.Values{"limit": {"50"}, "cluster": {ClusterName(r.Intn(10))}}
	}},
	{"search by number", true, 50, func(r *rand.Rand, n int) url.Values {
		return url.Values{"limit": {"50"}, "search": {strconv.Itoa(100000 + r.Intn(n))}}
	}},
	{"search by name and number prefix (User 1234)", true, 20, func(r *rand.Rand, n int) url.Values {
		return url.Values{"limit": {"50"}, "search": {"user " + strconv.Itoa(100000 + r.Intn(n))[:4]}, "sort": {"name"}}
	}},
	{"broad search (user: every extension)", true, 5, func(r *rand.Rand, n int) url.Values {
		return url.Values{"limit": {"50"}, "search": {"user"}}
	}},
}

// apiCaller sends listing requests to one agent with a read token.
type apiCaller struct {
	base, token string
	hc          *http.Client
}

func newAPICaller(e *demo.Enterprise, n *demo.Node, conns int) *apiCaller {
	return newAPICallerURL("http://"+n.HTTP, e.Tokens["read"], conns)
}

func newAPICallerURL(base, token string, conns int) *apiCaller {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &apiCaller{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// get sends one request and returns its status (0: no answer).
func (c *apiCaller) get(ctx context.Context, q url.Values) (int, error) {
	code, _, err := c.getTimed(ctx, q)
	return code, err
}

// callTimes splits one request's time: until it had a connection (a new
// one waits for the agent to accept it), and from the request written to
// the answer's first byte (the agent's part, shedding included).
type callTimes struct {
	conn, answer time.Duration
	newConn      bool
}

// getTimed is get with the request's times.
func (c *apiCaller) getTimed(ctx context.Context, q url.Values) (int, callTimes, error) {
	var ct callTimes
	t0 := time.Now()
	var mu sync.Mutex // the transport calls these from its own goroutines
	var wrote time.Time
	trace := &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			mu.Lock()
			ct.conn, ct.newConn = time.Since(t0), !i.Reused
			mu.Unlock()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { mu.Lock(); wrote = time.Now(); mu.Unlock() },
		GotFirstResponseByte: func() {
			mu.Lock()
			if !wrote.IsZero() {
				ct.answer = time.Since(wrote)
			}
			mu.Unlock()
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", c.base+"/v1/extensions?"+q.Encode(), nil)
	if err != nil {
		return 0, ct, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, ct, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	return resp.StatusCode, ct, err
}

// scaleLatency measures each kind of listing and search with a few
// clients at once (every answer must be 200), and reports the worst p99
// of the listings and of the searches.
func scaleLatency(ctx context.Context, e *demo.Enterprise, n *demo.Node, p scaleParams) ([]Result, error) {
	c := newAPICaller(e, n, p.latencyClients)
	lat := make([][]time.Duration, len(apiKinds))
	var mu sync.Mutex
	// A warm-up request of each kind first (the first search builds the
	// index).
	for _, k := range apiKinds {
		if code, err := c.get(ctx, k.query(rand.New(rand.NewSource(1)), p.extensions)); err != nil || code != 200 {
			return nil, fmt.Errorf("%s: status %d, %v", k.name, code, err)
		}
	}
	cpu, err := startCPU(n.PID)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	_, _, err = rate(ctx, p.latencyClients, p.latency, func(w, i int) error {
		r := rand.New(rand.NewSource(int64(w*1_000_000 + i)))
		ki := (w + i) % len(apiKinds)
		t0 := time.Now()
		code, err := c.get(ctx, apiKinds[ki].query(r, p.extensions))
		d := time.Since(t0)
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("%s: status %d", apiKinds[ki].name, code)
		}
		mu.Lock()
		lat[ki] = append(lat[ki], d)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	used, err := cpu.used(time.Since(start))
	if err != nil {
		return nil, err
	}
	total := 0
	for _, l := range lat {
		total += len(l)
	}
	var out []Result
	for _, search := range []bool{false, true} {
		worst, worstName := time.Duration(0), ""
		var notes []string
		for i, k := range apiKinds {
			if k.search != search {
				continue
			}
			if len(lat[i]) == 0 {
				return nil, fmt.Errorf("%s: no request finished in %v", k.name, p.latency)
			}
			p99 := Percentile(lat[i], 99)
			notes = append(notes, fmt.Sprintf("%s p50 %.1f / p99 %.1f ms (%d)", k.name, ms(Percentile(lat[i], 50)), ms(p99), len(lat[i])))
			if p99 >= worst {
				worst, worstName = p99, k.name
			}
		}
		what := "listing page"
		if search {
			what = "search"
		}
		out = append(out, Result{Name: fmt.Sprintf("%s p99 through the API, %d extensions, %d clients, the worst kind (%s)", what, p.extensions, p.latencyClients, worstName),
			Value: ms(worst), Unit: "ms", Goal: "< 50 ms", Clients: p.latencyClients, Note: strings.Join(notes, "; ") + "; every kind: " + used.note(total)})
	}
	return out, nil
}

// scaleLoad runs p.clients clients against one agent for p.load: each,
// on its own keep-alive connection (rawClient), sends a request of the
// mix, waits for the answer, then thinks 0.5-1.5 s before the next. It
// reports the share of 2xx answers and their p99.
func scaleLoad(ctx context.Context, e *demo.Enterprise, n *demo.Node, p scaleParams) ([]Result, error) {
	c := newAPICaller(e, n, 1) // the agent's /metrics, before and after
	var mix []int
	for i, k := range apiKinds {
		for range k.share {
			mix = append(mix, i)
		}
	}
	type tally struct {
		ok      []time.Duration
		okAt    []time.Duration // when each of ok was sent, from the start
		first   time.Duration   // when this client's first answer came
		shed    int
		other   map[string]int
		sent    int
		shedLat []time.Duration
		// conn and answer are every answered request's two parts
		// (callTimes); newConns counts the connections opened.
		conn, answer []time.Duration
		newConns     int
	}
	results := make([]tally, p.clients)
	lctx, cancel := context.WithTimeout(ctx, p.load)
	defer cancel()
	// The agent's /metrics first: a scrape can run the agent's audit of
	// every record (cached a minute), which is no request's cost.
	inAgent0, err := c.serverTimes(ctx)
	if err != nil {
		return nil, err
	}
	cpu, err := startCPU(n.PID)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < p.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w)))
			rc := newRawClient(n.HTTP, e.Tokens["read"], 30*time.Second)
			defer rc.Close()
			t := &results[w]
			t.other = map[string]int{}
			// Clients start spread over the first think time.
			if !sleepCtx(lctx, time.Duration(r.Int63n(int64(time.Second)))) {
				return
			}
			for lctx.Err() == nil {
				k := apiKinds[mix[r.Intn(len(mix))]]
				t0 := time.Now()
				code, ct, err := rc.get("/v1/extensions?" + k.query(r, p.extensions).Encode())
				d := time.Since(t0)
				if t.sent == 0 {
					t.first = time.Since(start)
				}
				t.sent++
				if err == nil {
					t.conn, t.answer = append(t.conn, ct.conn), append(t.answer, ct.answer)
					if ct.newConn {
						t.newConns++
					}
				}
				switch {
				case err != nil:
					t.other["no answer: "+shortErr(err)]++
				case code >= 200 && code < 300:
					t.ok, t.okAt = append(t.ok, d), append(t.okAt, t0.Sub(start))
				case code == 503:
					t.shed++
					t.shedLat = append(t.shedLat, d)
				default:
					t.other["status "+strconv.Itoa(code)]++
				}
				if !sleepCtx(lctx, 500*time.Millisecond+time.Duration(r.Int63n(int64(time.Second)))) {
					return
				}
			}
		}(w)
	}
	wg.Wait()
	took := time.Since(start)
	used, err := cpu.used(took)
	if err != nil {
		return nil, err
	}
	inAgent, err := c.serverTimes(ctx)
	if err != nil {
		return nil, err
	}
	agentP50, _ := inAgent.since(inAgent0, 50)
	agentP99, agentN := inAgent.since(inAgent0, 99)
	var ok, shedLat, conn, answer []time.Duration
	shed, sent, newConns := 0, 0, 0
	other := map[string]int{}
	// The start: until every client has its first answer, the agent also
	// accepts the 5,000 connections.
	var started time.Duration
	for _, t := range results {
		started = max(started, t.first)
	}
	var steady []time.Duration
	for _, t := range results {
		for i, at := range t.okAt {
			if at > started {
				steady = append(steady, t.ok[i])
			}
		}
		ok = append(ok, t.ok...)
		shedLat = append(shedLat, t.shedLat...)
		conn, answer = append(conn, t.conn...), append(answer, t.answer...)
		newConns += t.newConns
		shed += t.shed
		sent += t.sent
		for k, v := range t.other {
			other[k] += v
		}
	}
	if sent == 0 {
		return nil, fmt.Errorf("%d clients sent nothing in %v", p.clients, p.load)
	}
	var others []string
	nOther := 0
	for k, v := range other {
		others = append(others, fmt.Sprintf("%d %s", v, k))
		nOther += v
	}
	sort.Strings(others)
	var mixNote []string
	for _, k := range apiKinds {
		if k.share > 0 {
			mixNote = append(mixNote, fmt.Sprintf("%d%% %s", k.share, k.name))
		}
	}
	name := fmt.Sprintf("%d concurrent clients on one agent", p.clients)
	note := fmt.Sprintf("%d requests in %.0f s (%.0f/s offered and answered); %d answered 2xx, %d shed with 503 (p99 %.1f ms), %d other%s; %s; mix: %s",
		sent, took.Seconds(), float64(sent)/took.Seconds(), len(ok), shed, ms(Percentile(shedLat, 99)), nOther, listOrEmpty(others), used.note(sent), strings.Join(mixNote, ", "))
	return []Result{
		{Name: name + ": answers 2xx", Value: 100 * float64(len(ok)) / float64(sent), Unit: "%", Goal: ">= 95 %", Clients: p.clients, Note: note},
		{Name: name + ": p99 of the 2xx answers", Value: ms(Percentile(ok, 99)), Unit: "ms", Goal: "< 500 ms", Clients: p.clients,
			Note: fmt.Sprintf("p50 %.1f ms; every answered request split in two: opening its client's connection (each client keeps its own; a first request or one after the agent closed it) p50 %.1f / p99 %.1f ms (%d connections opened), "+
				"from the request written to the first byte of the answer p50 %.1f / p99 %.1f ms; "+
				"of which in the agent's handler (the wait for a slot and the work, every answer, 503s included: its /metrics histogram) p50 %s / p99 %s (%d requests)",
				ms(Percentile(ok, 50)), ms(Percentile(conn, 50)), ms(Percentile(conn, 99)), newConns, ms(Percentile(answer, 50)), ms(Percentile(answer, 99)),
				agentP50, agentP99, agentN)},
		steadyRow(name+": p99 of the 2xx answers once every client had its first answer", steady, started, p.clients),
	}, nil
}

// steadyRow is the p99 of the answers sent once every client had its
// first one; a run too short to have any fails the row rather than
// print 0.
func steadyRow(name string, steady []time.Duration, started time.Duration, clients int) Result {
	if len(steady) == 0 {
		return failed(name, fmt.Errorf("no 2xx answer was sent after every client had its first (%.1f s into the run): run longer", started.Seconds()))
	}
	return Result{Name: name, Value: ms(Percentile(steady, 99)), Unit: "ms", Clients: clients,
		Note: fmt.Sprintf("%d answers sent after the first %.1f s, p50 %.1f ms (the goal's row counts every answer, the start included)", len(steady), started.Seconds(), ms(Percentile(steady, 50)))}
}

func listOrEmpty(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return " (" + strings.Join(s, ", ") + ")"
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// sleepCtx sleeps d, false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// cpuSpan measures the CPU the agent and this process (the clients) use
// over a run, to set the cost of a request against the machine's CPUs.
type cpuSpan struct {
	pid         int
	agent, self time.Duration
}

func startCPU(pid int) (cpuSpan, error) {
	a, err := treeCPU(pid)
	if err != nil {
		return cpuSpan{}, err
	}
	s, err := selfCPU()
	return cpuSpan{pid: pid, agent: a, self: s}, err
}

// cpuUse is what a run used: CPU time of the agent and of the clients
// over the run's wall time.
type cpuUse struct{ agent, self, wall time.Duration }

func (c cpuSpan) used(wall time.Duration) (cpuUse, error) {
	a, err := treeCPU(c.pid)
	if err != nil {
		return cpuUse{}, err
	}
	s, err := selfCPU()
	return cpuUse{agent: a - c.agent, self: s - c.self, wall: wall}, err
}

// note says how many CPUs each side kept busy and its CPU per request.
func (u cpuUse) note(requests int) string {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(requests, 1)) }
	return fmt.Sprintf("the agent used %.2f CPUs (%.0f µs of CPU per request), the clients %.2f CPUs (%.0f µs per request), of %d",
		u.agent.Seconds()/u.wall.Seconds(), per(u.agent), u.self.Seconds()/u.wall.Seconds(), per(u.self), runtime.NumCPU())
}
