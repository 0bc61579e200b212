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
	"os"
	"path/filepath"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming/dundi"
	"github.com/pbxtopo/pbxtopo/store"
)

// Dundi measures DUNDi lookups answered per second, and their p99, on
// loopback with 100,000 roaming numbers in the store: between two peers
// (goal: 20,000/s, p99 under 5 ms), clear and encrypted, against the
// anchor of raw UDP request/response round trips with the same
// concurrency; and with 16 to 256 lookups in flight side by side with a
// real Asterisk answering the same load (goal: 4x its rate, p99 under
// 10 ms at 256, nothing dropped at 1,024).
func Dundi(ctx context.Context, env Env) ([]Result, error) {
	d, numbers, workers := dundiDuration(env), 100_000, 8
	if env.Quick {
		numbers = 5_000
	}
	env.Param("numbers", numbers)
	env.Param("workers", workers)
	env.Param("duration", d)
	env.Param("in_flight_levels", inFlightLevels)
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
			Result{Name: fmt.Sprintf("DUNDi lookups between two peers on loopback, %s, %d at once", mode, workers), Value: r.rate,
				Unit: "lookups/s", Anchor: "raw UDP round trips", AnchorValue: raw, Goal: ">= 20000/s",
				Note: fmt.Sprintf("p50 %.2f ms, %d packets resent", ms(Percentile(r.lat, 50)), r.resent)},
			Result{Name: fmt.Sprintf("DUNDi lookup p99, %s, %d at once", mode, workers), Value: ms(Percentile(r.lat, 99)),
				Unit: "ms", Goal: "< 5 ms"})
		if !encrypted {
			out = append(out, Result{Name: fmt.Sprintf("DUNDi answer p99 at %d queries/s offered (open loop), clear", pacedRate),
				Value: ms(Percentile(r.pacedLat, 99)), Unit: "ms", Goal: "< 5 ms",
				Note: fmt.Sprintf("p50 %.2f ms, %d of %d unanswered; the generator sent p99 %.2f ms behind its schedule",
					ms(Percentile(r.pacedLat, 50)), r.lost, len(r.late), ms(Percentile(r.late, 99)))})
		}
	}
	vs, err := dundiVersusAsterisk(ctx, env, dir, numbers)
	return append(out, vs...), err
}

// dundiDuration is how long each DUNDi measure runs.
func dundiDuration(env Env) time.Duration {
	if env.Quick {
		return 300 * time.Millisecond
	}
	return 3 * time.Second
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
