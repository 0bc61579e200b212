package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// Ops measures backup and restore of a 200,000-extension store (goal
// under 10 s each) and the backup's size against the store file's, with
// a plain copy of the store file (cp, then fsync) as the anchor; and an
// offline compaction of the same store.
func Ops(ctx context.Context, env Env) ([]Result, error) {
	nExt := 200_000
	if env.Quick {
		nExt = 5_000
	}
	env.Param("extensions", nExt)
	files, err := Enterprise{Clusters: 10, Extensions: nExt, Roaming: 0.3, Seed: 1}.Write(env.Dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(env.Dir, "store.db")
	st, err := store.Open(storeConfig(path))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc := service.NewService(st)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		_, err = svc.Import(service.WithAuthor(ctx, "bench"), service.ImportRequest{Table: filepath.Base(f[:len(f)-len(".csv")]), Source: f}, fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", f, err)
		}
	}
	storeBytes := fileSize(path)

	// The anchor: cp of the store file, made durable.
	cpPath := filepath.Join(env.Dir, "copy.db")
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, "cp", path, cpPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cp: %v %s", err, out)
	}
	if err := fsyncFile(cpPath); err != nil {
		return nil, err
	}
	cpTook := time.Since(t0)
	os.Remove(cpPath)

	// Backup as `pbxtopo backup` takes it: write, fsync, check the file.
	bkPath := filepath.Join(env.Dir, "store.pbxbak")
	t0 = time.Now()
	if err := backupFile(st, bkPath); err != nil {
		return nil, err
	}
	bkTook := time.Since(t0)
	bkBytes := fileSize(bkPath)

	// Restore as `pbxtopo restore` does: check, write, fsync, check the
	// bbolt file, new incarnation.
	rsPath := filepath.Join(env.Dir, "restored", "store.db")
	fh, err := os.Open(bkPath)
	if err != nil {
		return nil, err
	}
	t0 = time.Now()
	_, err = store.RestoreBackup(fh, rsPath)
	rsTook := time.Since(t0)
	fh.Close()
	if err != nil {
		return nil, err
	}
	t0 = time.Now()
	cres, err := store.Compact(rsPath)
	if err != nil {
		return nil, err
	}
	cTook := time.Since(t0)
	n := fmt.Sprintf("%d extensions", nExt)
	return []Result{
		{Name: "store file (" + n + ")", Value: float64(storeBytes) / (1 << 20), Unit: "MiB"},
		{Name: "cp of the store file + fsync", Value: cpTook.Seconds(), Unit: "s"},
		{Name: "backup (" + n + "): write, fsync, verify", Value: bkTook.Seconds(), Unit: "s", Anchor: "cp + fsync", AnchorValue: cpTook.Seconds(), Goal: "< 10 s"},
		{Name: "restore (" + n + "): verify, write, fsync, check, reincarnate", Value: rsTook.Seconds(), Unit: "s", Anchor: "cp + fsync", AnchorValue: cpTook.Seconds(), Goal: "< 10 s"},
		{Name: "backup size", Value: float64(bkBytes) / (1 << 20), Unit: "MiB", Anchor: "store file", AnchorValue: float64(storeBytes) / (1 << 20)},
		{Name: "compact the restored store (offline)", Value: cTook.Seconds(), Unit: "s",
			Note: fmt.Sprintf("%.1f MiB -> %.1f MiB", float64(cres.Before)/(1<<20), float64(cres.After)/(1<<20))},
	}, nil
}

func backupFile(st *store.Store, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := st.Backup(f, "bench"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	f, err = os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = store.ReadBackup(bufio.NewReader(f), io.Discard)
	return err
}

func fsyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
