package bench

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
	"github.com/pbxtopo/pbxtopo/store"
)

// Dundi measures DUNDi lookups answered per second, and their p99, on
// loopback with 100,000 roaming numbers in the store (goal: 20,000/s,
// p99 under 5 ms), clear and encrypted, against the anchor of raw UDP
// request/response round trips with the same concurrency.
func Dundi(ctx context.Context, env Env) ([]Result, error) {
	d, numbers, workers := 3*time.Second, 100_000, 8
	if env.Quick {
		d, numbers = 300*time.Millisecond, 5_000
	}
	st, err := dundiStore(ctx, env.Dir, numbers)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	maps, err := dundi.ParseMappings([]dundi.MappingConfig{{Context: "priv", Tech: "IAX2", Destination: "priv:${SECRET}@${IPADDR}/${NUMBER}"}})
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	t0 := time.Now()
	dir, err := dundi.NewStoreDirectory(st, nil, dundi.StoreDirectoryConfig{Mappings: maps, Secret: "bench", Logger: quiet})
	if err != nil {
		return nil, err
	}
	build := time.Since(t0)
	num := func(i int) string { return fmt.Sprint(100000 + i%numbers) }

	inproc, _, err := rate(ctx, 1, d, func(w, i int) error {
		_, err := dir.Lookup(ctx, num(mrand.Intn(numbers)), "priv")
		return err
	})
	if err != nil {
		return nil, err
	}
	raw, rawLat, err := udpEcho(ctx, workers, d)
	if err != nil {
		return nil, err
	}
	out := []Result{
		{Name: fmt.Sprintf("index build, %d roaming numbers on 10 clusters", numbers), Value: ms(build), Unit: "ms"},
		{Name: "directory lookups in process, 1 goroutine", Value: inproc, Unit: "lookups/s"},
		{Name: fmt.Sprintf("raw UDP round trips on loopback, %d workers", workers), Value: raw, Unit: "round trips/s",
			Note: fmt.Sprintf("p99 %.2f ms", ms(Percentile(rawLat, 99)))},
	}
	keys, err := benchKeys(env.Dir)
	if err != nil {
		return nil, err
	}
	for _, encrypted := range []bool{false, true} {
		mode := "clear"
		if encrypted {
			mode = "encrypted"
		}
		env.Log.Info("bench dundi: lookups on loopback", "mode", mode)
		r, err := dundiLoopback(ctx, dir, keys, encrypted, workers, d, numbers)
		if err != nil {
			return out, err
		}
		out = append(out,
			Result{Name: fmt.Sprintf("DUNDi lookups on loopback, %s, %d workers flat out", mode, workers), Value: r.rate, Unit: "lookups/s",
				Anchor: "raw UDP round trips", AnchorValue: raw, Goal: ">= 20000/s",
				Note: fmt.Sprintf("p50 %.2f ms", ms(Percentile(r.lat, 50)))},
			Result{Name: fmt.Sprintf("DUNDi lookup p99, %s, %d workers flat out", mode, workers), Value: ms(Percentile(r.lat, 99)),
				Unit: "ms", Goal: "< 5 ms"},
			Result{Name: fmt.Sprintf("DUNDi lookup p99 at %d lookups/s offered, %s", pacedRate, mode), Value: ms(Percentile(r.pacedLat, 99)),
				Unit: "ms", Note: fmt.Sprintf("p50 %.2f ms, %.0f lookups/s done, %d packets resent; the load generator itself started p99 %.2f ms late",
					ms(Percentile(r.pacedLat, 50)), r.pacedDone, r.resent, ms(Percentile(r.late, 99)))})
	}
	return out, nil
}

// dundiStore writes 10 clusters and n roaming numbers, each on its home
// cluster (with the mailbox) and one other.
func dundiStore(ctx context.Context, dir string, n int) (*store.Store, error) {
	cfg := store.DefaultConfig(filepath.Join(dir, "dundi.db"))
	cfg.Replica = "c00"
	st, err := store.Open(cfg)
	if err != nil {
		return nil, err
	}
	var muts []store.Mutation
	flush := func() error {
		if len(muts) == 0 {
			return nil
		}
		_, err := st.Write(ctx, "bench", muts)
		muts = muts[:0]
		return err
	}
	for c := 0; c < 10; c++ {
		f := pbx.Fields{"name": ClusterName(c), "site": fmt.Sprintf("s%02d", c/2), "voice_vip": fmt.Sprintf("10.%d.0.218", c),
			"failover": ClusterName((c + 1) % 10)}
		muts = append(muts, store.Mutation{Table: "clusters", Key: ClusterName(c), Value: f.AppendBinary(nil)})
	}
	rnd := mrand.New(mrand.NewSource(1))
	for i := 0; i < n; i++ {
		number := fmt.Sprint(100000 + i)
		home := rnd.Intn(10)
		for j, c := range []int{home, (home + 1 + rnd.Intn(9)) % 10} {
			f := pbx.Fields{"cluster": ClusterName(c), "regexten": number, "roaming": "yes", "name": "User " + number}
			if j == 0 {
				f["mailbox"] = number
			}
			muts = append(muts, store.Mutation{Table: "extensions", Key: ClusterName(c) + "/" + number, Value: f.AppendBinary(nil)})
		}
		if len(muts) >= 10_000 {
			if err := flush(); err != nil {
				st.Close()
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

type keyFiles struct{ aKey, aPub, bKey, bPub string }

// benchKeys makes two fresh 1024-bit key pairs in dir.
func benchKeys(dir string) (keyFiles, error) {
	var kf keyFiles
	for _, p := range []struct{ key, pub *string }{{&kf.aKey, &kf.aPub}, {&kf.bKey, &kf.bPub}} {
		k, err := rsa.GenerateKey(rand.Reader, dundi.KeyBits)
		if err != nil {
			return kf, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return kf, err
		}
		pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return kf, err
		}
		f, err := os.CreateTemp(dir, "key")
		if err != nil {
			return kf, err
		}
		f.Close()
		*p.key, *p.pub = f.Name()+".key", f.Name()+".pub"
		if err := os.WriteFile(*p.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return kf, err
		}
		if err := os.WriteFile(*p.pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
			return kf, err
		}
	}
	return kf, nil
}

// pacedRate is the offered load of the latency measure: the goal.
const pacedRate = 20_000

type loopbackResult struct {
	rate      float64         // lookups/s with every worker flat out
	lat       []time.Duration // their latencies
	pacedLat  []time.Duration // latencies at pacedRate offered, from the scheduled start
	pacedDone float64         // lookups/s completed at pacedRate offered
	late      []time.Duration // how late the generator started each paced lookup
	resent    uint64          // packets retransmitted by either side
}

// dundiLoopback runs a responder over dir and a querier on loopback: first
// workers look up random numbers flat out for d (throughput), then
// lookups are started at pacedRate for d (latency at the goal rate).
func dundiLoopback(ctx context.Context, dir dundi.Directory, kf keyFiles, encrypted bool, workers int, d time.Duration, numbers int) (loopbackResult, error) {
	var res loopbackResult
	const eidA, eidB = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pb := dundi.PeerConfig{EID: eidB, Host: "127.0.0.1:9", Model: "inbound", Permit: []string{"priv"}}
	acfg := dundi.Config{Addr: "127.0.0.1:0", EID: eidA}
	bcfg := dundi.Config{Addr: "127.0.0.1:0", EID: eidB}
	if encrypted {
		pb.PublicKey, acfg.PrivateKey, bcfg.PrivateKey = kf.bPub, kf.aKey, kf.bKey
	} else {
		pb.Unencrypted = true
	}
	acfg.Peers = []dundi.PeerConfig{pb}
	a, err := dundi.New(acfg, dundi.Deps{Directory: dir, Logger: quiet})
	if err != nil {
		return res, err
	}
	pa := dundi.PeerConfig{EID: eidA, Host: a.Addr().String(), Model: "outbound", Include: []string{"priv"}}
	if encrypted {
		pa.PublicKey = kf.aPub
	} else {
		pa.Unencrypted = true
	}
	bcfg.Peers = []dundi.PeerConfig{pa}
	b, err := dundi.New(bcfg, dundi.Deps{Logger: quiet})
	if err != nil {
		a.Close()
		return res, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- a.Run(rctx) }()
	go func() { done <- b.Run(rctx) }()
	defer func() { cancel(); <-done; <-done }()
	lookup := func(r *mrand.Rand) error {
		number := fmt.Sprint(100000 + r.Intn(numbers))
		res, err := b.Lookup(ctx, number, "priv", dundi.LookupOptions{})
		if err != nil {
			return err
		}
		if err := res.Err(); err != nil {
			return err
		}
		if len(res.Results) != 2 {
			return fmt.Errorf("lookup %s: %d answers, want 2", number, len(res.Results))
		}
		return nil
	}
	rnds := make([]*mrand.Rand, 4*workers)
	for w := range rnds {
		rnds[w] = mrand.New(mrand.NewSource(int64(w)))
	}
	if res.rate, res.lat, err = rate(ctx, workers, d, func(w, i int) error { return lookup(rnds[w]) }); err != nil {
		return res, err
	}
	res.pacedDone, res.pacedLat, res.late, err = paced(ctx, pacedRate, 4*workers, d, func(w int) error { return lookup(rnds[w]) })
	res.resent = a.Stats().Retransmits + b.Stats().Retransmits
	return res, err
}

// paced starts fn at a fixed rate for d on a pool of workers and returns
// the completion rate, each call's latency from its scheduled start (so a
// stall counts against every call it delays), and how late each call
// started: on a shared machine, the generator's own share of the delay.
func paced(ctx context.Context, perSec, workers int, d time.Duration, fn func(worker int) error) (float64, []time.Duration, []time.Duration, error) {
	jobs := make(chan time.Time, perSec)
	type res struct {
		lat, late []time.Duration
		err       error
	}
	out := make(chan res, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			var r res
			for due := range jobs {
				if r.err != nil {
					continue
				}
				r.late = append(r.late, time.Since(due))
				if err := fn(w); err != nil {
					r.err = err
					continue
				}
				r.lat = append(r.lat, time.Since(due))
			}
			out <- r
		}(w)
	}
	start := time.Now()
	interval := time.Second / time.Duration(perSec)
	n := int(d / interval)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > time.Millisecond {
			time.Sleep(wait)
		}
		jobs <- due
	}
	close(jobs)
	var all, late []time.Duration
	var firstErr error
	for w := 0; w < workers; w++ {
		r := <-out
		all = append(all, r.lat...)
		late = append(late, r.late...)
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	return float64(len(all)) / time.Since(start).Seconds(), all, late, firstErr
}

// udpEcho measures request/response round trips of 64-byte datagrams on
// loopback: a server echoing on one socket, each worker on its own.
func udpEcho(ctx context.Context, workers int, d time.Duration) (float64, []time.Duration, error) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, nil, err
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	conns := make([]*net.UDPConn, workers)
	for w := range conns {
		c, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
		if err != nil {
			return 0, nil, err
		}
		defer c.Close()
		conns[w] = c
	}
	msg := make([]byte, 64)
	return rate(ctx, workers, d, func(w, i int) error {
		c := conns[w]
		buf := make([]byte, 2048)
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := c.Read(buf)
		return err
	})
}
