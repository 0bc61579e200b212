package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/astrun"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
)

// inFlightLevels are the loads of the side-by-side comparison; pbxtopo
// alone is also run at inFlightMax, its max_lookups.
var inFlightLevels = []int{16, 64, 128, 256}

const inFlightMax = 1024

// dundiVersusAsterisk answers the same closed-loop load, level by level,
// from pbxtopo's peer over dir and from a real Asterisk (the anchor)
// whose dialplan holds every number, both in clear on loopback. pbxtopo
// answers each number with two clusters, Asterisk with its one mapping.
func dundiVersusAsterisk(ctx context.Context, env Env, dir dundi.Directory, numbers int) ([]Result, error) {
	d := dundiDuration(env)
	if env.Quick {
		// Still a window a loaded machine's stall does not swallow whole.
		d = time.Second
	}
	ast, err := astrun.Start(ctx, astrun.Options{EID: eidA, Append: map[string]string{
		"dundi.conf": "priv => dundi-priv-local,0,IAX2,priv:${SECRET}@127.0.0.1/${NUMBER},nopartial\n\n[" + eidB +
			"]\nmodel = inbound\nhost = 127.0.0.1\npermit = priv\n",
		"extensions.conf": "\n[dundi-priv-local]\nexten => _1XXXXX,1,NoOp()\n",
	}})
	if err != nil {
		return nil, fmt.Errorf("the anchor, a real Asterisk: %w", err)
	}
	defer ast.Stop()
	version, _ := ast.CLI("core show version")
	astAddr, err := netip.ParseAddrPort(ast.DUNDiAddr())
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := dundi.Config{Addr: "127.0.0.1:0", EID: eidA, MaxLookups: inFlightMax,
		Peers: []dundi.PeerConfig{{EID: eidB, Host: "127.0.0.1:9", Model: "inbound", Permit: []string{"priv"}, Unencrypted: true}}}
	p, err := dundi.New(cfg, dundi.Deps{Directory: dir, Logger: quiet})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	defer func() { cancel(); <-done }()
	eid, _ := dundi.ParseEID(eidB)

	anchor := "Asterisk " + firstWord(version, "22") + " (same load)"
	var out []Result
	for _, n := range inFlightLevels {
		env.Log.Info("bench dundi: lookups in flight", "n", n)
		// The CPU both sides use per lookup, the generator's included (it
		// runs in this process, beside pbxtopo's peer): a figure the
		// neighbours' load moves much less than the rates.
		ours, oursCPU, err := cpuOf(func() (inFlight, error) { return lookupsInFlight(ctx, p.Addr(), eid, n, 2, numbers, d) }, selfCPU)
		if err != nil {
			return out, fmt.Errorf("pbxtopo, %d in flight: %w", n, err)
		}
		theirs, theirsCPU, err := cpuOf(func() (inFlight, error) { return lookupsInFlight(ctx, astAddr, eid, n, 1, numbers, d) },
			func() (time.Duration, error) {
				a, err := treeCPU(ast.Pid())
				s, err2 := selfCPU()
				return a + s, errors.Join(err, err2)
			})
		if err != nil {
			return out, fmt.Errorf("the real Asterisk, %d in flight: %w", n, err)
		}
		if ours.answered == 0 || theirs.answered == 0 {
			return out, fmt.Errorf("%d in flight: pbxtopo answered %d, Asterisk %d: no measurement", n, ours.answered, theirs.answered)
		}
		out = append(out, Result{Name: fmt.Sprintf("DUNDi lookups, %d in flight, clear", n), Value: ours.rate(), Unit: "lookups/s",
			Anchor: anchor, AnchorValue: theirs.rate(), Goal: ">= 4x Asterisk",
			Note: fmt.Sprintf("pbxtopo p50 %.2f ms, p99 %.2f ms, %d dropped, %d refused; Asterisk p50 %.2f ms, p99 %.2f ms, %d dropped, %d refused",
				ms(Percentile(ours.lat, 50)), ms(Percentile(ours.lat, 99)), ours.drops, ours.refused,
				ms(Percentile(theirs.lat, 50)), ms(Percentile(theirs.lat, 99)), theirs.drops, theirs.refused)})
		out = append(out, Result{Name: fmt.Sprintf("CPU per DUNDi lookup, %d in flight, server and generator together", n),
			Value: us(oursCPU / time.Duration(ours.total)), Unit: "µs", Anchor: anchor, AnchorValue: us(theirsCPU / time.Duration(theirs.total)),
			Note: fmt.Sprintf("%d lookups by pbxtopo, %d by Asterisk, warm-up included", ours.total, theirs.total)})
		if n == inFlightLevels[len(inFlightLevels)-1] {
			out = append(out, Result{Name: fmt.Sprintf("DUNDi lookup p99, %d in flight, clear", n), Value: ms(Percentile(ours.lat, 99)),
				Unit: "ms", Anchor: anchor, AnchorValue: ms(Percentile(theirs.lat, 99)), Goal: "< 10 ms"})
		}
	}
	env.Log.Info("bench dundi: lookups in flight", "n", inFlightMax)
	most, err := lookupsInFlight(ctx, p.Addr(), eid, inFlightMax, 2, numbers, d)
	if err != nil {
		return out, fmt.Errorf("pbxtopo, %d in flight: %w", inFlightMax, err)
	}
	if most.answered == 0 {
		return out, fmt.Errorf("pbxtopo, %d in flight: nothing answered: no measurement", inFlightMax)
	}
	out = append(out, Result{Name: fmt.Sprintf("DUNDi queries dropped or refused, %d in flight (max_lookups), clear", inFlightMax),
		Value: float64(most.drops + most.refused), Unit: "queries", Goal: "0",
		Note: fmt.Sprintf("%.0f lookups/s, p50 %.2f ms, p99 %.2f ms", most.rate(), ms(Percentile(most.lat, 50)), ms(Percentile(most.lat, 99)))})
	return out, nil
}

// cpuOf runs a measurement and returns the CPU time cpu counted meanwhile.
func cpuOf(run func() (inFlight, error), cpu func() (time.Duration, error)) (inFlight, time.Duration, error) {
	before, err := cpu()
	if err != nil {
		return inFlight{}, 0, fmt.Errorf("CPU time: %w", err)
	}
	r, err := run()
	if err != nil {
		return r, 0, err
	}
	after, err := cpu()
	if err != nil {
		return r, 0, fmt.Errorf("CPU time: %w", err)
	}
	if r.total == 0 {
		return r, 0, fmt.Errorf("nothing answered: no measurement")
	}
	return r, after - before, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// firstWord returns the version number in "Asterisk 22.8.0 built by ...".
func firstWord(version, def string) string {
	var name, v string
	if _, err := fmt.Sscan(version, &name, &v); err == nil && name == "Asterisk" {
		return v
	}
	return def
}
