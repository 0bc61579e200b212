package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Store measures durable writes with 1 and 32 writers against the disk's
// raw fsync rate, the import of 100,000 extensions, and listing them by
// group.
func Store(ctx context.Context, env Env) ([]Result, error) {
	d := 3 * time.Second
	nExt := 100_000
	if env.Quick {
		d, nExt = 300*time.Millisecond, 5_000
	}
	env.Param("duration", d)
	env.Param("writers", []int{1, 32})
	env.Param("import_extensions", nExt)
	raw, err := RawFsyncRate(env.Dir, d)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(storeConfig(filepath.Join(env.Dir, "writes.db")))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	value := pbx.Fields{"cluster": "tpa1", "name": "George Lopez", "callerid": "George Lopez <6109>", "mailbox": "6109",
		"context": "USSales1", "astgroup": "USSales", "secret": "hwtMazpRnvuS3VgA", "allow": "ulaw,alaw"}.AppendBinary(nil)
	write := func(w, i int) error {
		_, err := st.Write(ctx, "bench", []store.Mutation{{Table: "extensions", Key: fmt.Sprintf("tpa1/%d-%d", w, i), Value: value}})
		return err
	}
	stats0 := st.Stats()
	one, lat1, err := rate(ctx, 1, d, write)
	if err != nil {
		return nil, err
	}
	stats1 := st.Stats()
	many, lat32, err := rate(ctx, 32, d, write)
	if err != nil {
		return nil, err
	}
	stats32 := st.Stats()
	// The disk's own rate for commits of the same shape: as many 4 KiB
	// pages per flush, at random places in a file.
	perCommit := max(1, int(float64(stats32.PagesWritten-stats1.PagesWritten)/float64(max(stats32.Commits-stats1.Commits, 1))+0.5))
	scattered, err := ScatteredPageRate(env.Dir, d, perCommit)
	if err != nil {
		return nil, err
	}
	storePages := many * float64(stats32.PagesWritten-stats1.PagesWritten) / float64(max(stats32.LSN-stats1.LSN, 1))
	batch, batchLat, err := boltBatchRate(ctx, filepath.Join(env.Dir, "batch.db"), boltBatchWriters, d, value)
	if err != nil {
		return nil, err
	}
	out := []Result{
		{Name: "raw fsync loop (write+fsync of 4 KiB)", Value: raw, Unit: "fsyncs/s"},
		{Name: "durable writes, 1 writer", Value: one, Unit: "writes/s", Anchor: "raw fsync loop", AnchorValue: raw,
			AnchorSettings: rawFsyncSettings, Note: fmt.Sprintf("p99 %.2f ms; %s", ms(Percentile(lat1, 99)), commitShape(stats0, stats1))},
		{Name: "durable writes, 32 writers", Value: many, Unit: "writes/s", Anchor: "raw fsync loop", AnchorValue: raw,
			AnchorSettings: rawFsyncSettings, Clients: 32, Note: fmt.Sprintf("p99 %.2f ms; %s", ms(Percentile(lat32, 99)), commitShape(stats1, stats32))},
		{Name: "store pages written, 32 writers", Value: storePages, Unit: "pages/s",
			Anchor: fmt.Sprintf("raw scattered pages, %d per fdatasync", perCommit), AnchorValue: scattered, AnchorSettings: scatteredSettings},
		{Name: "group commit gain, 32 writers vs 1", Value: many / one, Unit: "x", Goal: ">= 20x"},
		{Name: fmt.Sprintf("bbolt Batch, %d writers, one Put each (anchor)", boltBatchWriters), Value: batch, Unit: "writes/s",
			Clients: boltBatchWriters, Note: fmt.Sprintf("p99 %.2f ms; %s", ms(Percentile(batchLat, 99)), boltBatchSettings)},
		{Name: "durable writes, 32 writers, against bbolt Batch", Value: many, Unit: "writes/s", Clients: 32,
			Anchor: fmt.Sprintf("bbolt Batch, %d writers", boltBatchWriters), AnchorValue: batch, AnchorSettings: boltBatchSettings},
	}
	imp, err := importAndList(ctx, env, nExt)
	return append(out, imp...), err
}

// commitShape says how the writes between two stats were committed: how
// many shared a commit, how many pages a commit wrote (each commit fsyncs
// its pages, spread over the file).
func commitShape(before, after store.Stats) string {
	commits := float64(after.Commits - before.Commits)
	if commits == 0 {
		return "no commit"
	}
	return fmt.Sprintf("%.1f writes and %.0f pages per commit", float64(after.LSN-before.LSN)/commits,
		float64(after.PagesWritten-before.PagesWritten)/commits)
}

func storeConfig(path string) store.Config {
	cfg := store.DefaultConfig(path)
	cfg.Replica = "bench"
	return cfg
}

// importAndList imports a synthetic enterprise with the pbxtopo binary as a
// child process (so its peak RSS is the import's alone), then lists by group.
func importAndList(ctx context.Context, env Env, nExt int) ([]Result, error) {
	files, err := Enterprise{Clusters: 10, Extensions: nExt, Roaming: 0.3, Seed: 1}.Write(env.Dir)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(env.Dir, "import")
	var out []Result
	for _, f := range files {
		if env.Self == "" {
			return nil, fmt.Errorf("the import measure needs the pbxtopo binary: run 'pbxtopo bench store'")
		}
		cmd := exec.CommandContext(ctx, env.Self, "import", "--data-dir", dataDir, "--replica", "c00", f)
		var outb strings.Builder
		cmd.Stdout, cmd.Stderr = &outb, &outb
		start := time.Now()
		rss, err := runPeakRSS(cmd)
		if err != nil {
			return nil, fmt.Errorf("import %s: %v\n%.500s", f, err, outb.String())
		}
		if filepath.Base(f) != "extensions.csv" {
			continue
		}
		took := time.Since(start)
		out = append(out,
			Result{Name: fmt.Sprintf("import %d extensions from CSV (child process)", nExt), Value: took.Seconds(), Unit: "s", Goal: "< 5 s"},
			Result{Name: "import peak RSS", Value: rss, Unit: "MB", Goal: "< 300 MB"})
	}
	cfg := storeConfig(filepath.Join(dataDir, "store.db"))
	cfg.Replica = ""
	cfg.ReadOnly = true
	st, err := store.Open(cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc := service.NewService(st)
	var times []time.Duration
	var n int
	for i := 0; i < 9; i++ {
		t0 := time.Now()
		p, err := svc.List(ctx, "extensions", service.Query{Group: "USSales"})
		if err != nil {
			return nil, err
		}
		times = append(times, time.Since(t0))
		n = p.Total
	}
	out = append(out, Result{Name: fmt.Sprintf("list %d extensions by group (%d match), median of 9", nExt, n),
		Value: ms(Percentile(times, 50)), Unit: "ms", Goal: "< 100 ms"})
	return out, nil
}

// boltBatchWriters is how many writers the bbolt Batch anchor runs: the
// batch size bbolt is built for (MaxBatchSize 1000).
const boltBatchWriters = 1000

const boltBatchSettings = "bbolt v1.5 DB.Batch (MaxBatchSize 1000, MaxBatchDelay 10 ms), default options (the free list written with each commit, as the store does), " +
	"one bucket, each writer Puts a new 16-byte key with the same value as the store's writes; every batch fsynced"

// boltBatchRate runs n writers that each Put one key per bbolt Batch
// call into a bare bbolt file for d: what bbolt's own group commit does
// with no store on top (no log, dots, digests, versions).
func boltBatchRate(ctx context.Context, path string, n int, d time.Duration, value []byte) (float64, []time.Duration, error) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		return 0, nil, err
	}
	return rate(ctx, n, d, func(w, i int) error {
		key := fmt.Appendf(nil, "%08d-%07d", w, i)
		return db.Batch(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put(key, value) })
	})
}

const rawFsyncSettings = "one goroutine: pwrite of a 4 KiB block then fsync, cycling over 256 blocks of one file in the scratch directory"

const scatteredSettings = "one goroutine: pwrite of N 4 KiB pages at random page offsets of a 64 MiB file (seed 1), then fdatasync; N is the store's pages per commit with 32 writers in the same run"

// ScatteredPageRate measures pages/s when each flush writes perFlush
// 4 KiB pages at random places of a 64 MiB file, as a bbolt commit writes
// the pages it dirtied wherever its free list put them: on disks that
// count I/O operations, this, not the fsync rate, caps a store whose
// commits dirty many pages.
func ScatteredPageRate(dir string, d time.Duration, perFlush int) (float64, error) {
	f, err := os.CreateTemp(dir, "pages")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const size = 64 << 20
	chunk := make([]byte, 1<<20) // allocate the file first: no extent is created while measuring
	for off := int64(0); off < size; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk, off); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	page := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 1))
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range perFlush {
			if _, err := f.WriteAt(page, rng.Int64N(size/4096)*4096); err != nil {
				return 0, err
			}
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
		n += perFlush
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// RawFsyncRate measures write+fsync of one 4 KiB block on the disk of dir:
// the ceiling for durable single writes there.
func RawFsyncRate(dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if _, err := f.WriteAt(buf, int64(n%256)*4096); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
