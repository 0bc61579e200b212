package roaming

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pbxtopo/pbxtopo/internal/atomicfile"
)

// WriteBundle writes the bundle's files into dir, each atomically: a
// temporary file in the same directory, fsynced, renamed over the old one,
// then the directory fsynced. Asterisk never reads half a file. A file
// whose body (everything after its header comments) is unchanged is left
// alone, so only a real change makes a reload worthwhile; its header then
// names the older store version that produced the same body. It returns
// the names of the files it wrote.
func WriteBundle(dir string, b *Bundle) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("roaming: %w", err)
	}
	var changed []string
	for _, f := range b.Files {
		path := filepath.Join(dir, f.Name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(body(old), body([]byte(f.Content))) {
			continue
		}
		if err := writeAtomic(path, []byte(f.Content)); err != nil {
			return changed, err
		}
		changed = append(changed, f.Name)
	}
	if len(changed) > 0 {
		if err := syncDir(dir); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// body returns a file without its leading comment lines.
func body(b []byte) []byte {
	for len(b) > 0 && b[0] == ';' {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
}

func writeAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("roaming: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("roaming: write %s: %w", path, err)
	}
	// Asterisk runs as its own user: it must be able to read the file.
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("roaming: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("roaming: fsync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("roaming: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("roaming: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("roaming: fsync %s: %w", dir, err)
	}
	return nil
}
