package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pbxtopo/pbxtopo/internal/atomicfile"
)

// A backup file is
//
//	magic "PBXTBAK\n" | format (uint16 BE) | header length (uint32 BE) |
//	header (JSON, BackupHeader) | store image (header.Length bytes) |
//	SHA-256 of everything before it (32 bytes)
//
// The image is a bbolt copy made in one read transaction (WriteTo), so the
// backup is consistent while the store keeps taking writes.

// BackupFormat is the version of the backup file layout this code writes.
const BackupFormat = 1

// maxBackupHeader bounds the JSON header a reader accepts.
const maxBackupHeader = 64 << 10

var backupMagic = []byte("PBXTBAK\n")

// BackupHeader describes a backup: where and when it was taken.
type BackupHeader struct {
	Format      int       `json:"format"`
	Schema      int       `json:"schema"`
	Cluster     string    `json:"cluster"`
	Node        string    `json:"node,omitempty"`
	Incarnation uint64    `json:"incarnation"`
	Created     time.Time `json:"created"`
	Length      int64     `json:"length"` // bytes of the store image
}

// Backup writes a checksummed backup of the whole store to w: one read
// transaction, so writes go on meanwhile and the copy is consistent. node
// names the agent it comes from (may be empty).
func (s *Store) Backup(w io.Writer, node string) (BackupHeader, error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	var h BackupHeader
	err := s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bMeta)
		h = BackupHeader{Format: BackupFormat, Schema: int(getU64(m.Get(kSchema))), Cluster: string(m.Get(kReplica)),
			Node: node, Incarnation: getU64(m.Get(kIncarnation)), Created: s.cfg.Now().UTC(), Length: tx.Size()}
		sum := sha256.New()
		bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 1<<20)
		if err := writeBackupHeader(bw, h); err != nil {
			return err
		}
		n, err := tx.WriteTo(bw)
		if err != nil {
			return err
		}
		if n != h.Length {
			return fmt.Errorf("store: backup: wrote %d bytes of a %d-byte image", n, h.Length)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		_, err = w.Write(sum.Sum(nil))
		return err
	})
	if err != nil {
		return h, fmt.Errorf("store: backup: %w", err)
	}
	return h, nil
}

func writeBackupHeader(w io.Writer, h BackupHeader) error {
	js, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var pre [6]byte
	binary.BigEndian.PutUint16(pre[:2], uint16(h.Format))
	binary.BigEndian.PutUint32(pre[2:], uint32(len(js)))
	for _, b := range [][]byte{backupMagic, pre[:], js} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// ReadBackupHeader reads and checks the header at the start of a backup.
// It refuses a file that is not a backup, one of a newer format and one
// of a newer store schema, saying what to do.
func ReadBackupHeader(r io.Reader) (BackupHeader, error) {
	var h BackupHeader
	pre := make([]byte, len(backupMagic)+6)
	if _, err := io.ReadFull(r, pre); err != nil {
		return h, fmt.Errorf("%w: the file is too short to hold a header (%v)", ErrBadBackup, err)
	}
	if !bytes.Equal(pre[:len(backupMagic)], backupMagic) {
		return h, fmt.Errorf("%w: it does not start with the backup magic; give a file made by 'pbxtopo backup'", ErrBadBackup)
	}
	format := int(binary.BigEndian.Uint16(pre[len(backupMagic):]))
	n := binary.BigEndian.Uint32(pre[len(backupMagic)+2:])
	if format > BackupFormat {
		return h, fmt.Errorf("%w: backup format %d is newer than this pbxtopo reads (%d): restore it with the pbxtopo that made it", ErrNewerSchema, format, BackupFormat)
	}
	if format < 1 || n == 0 || n > maxBackupHeader {
		return h, fmt.Errorf("%w: bad format %d or header length %d", ErrBadBackup, format, n)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return h, fmt.Errorf("%w: the header is truncated (%v)", ErrBadBackup, err)
	}
	if err := json.Unmarshal(js, &h); err != nil {
		return h, fmt.Errorf("%w: the header does not decode: %v", ErrBadBackup, err)
	}
	switch {
	case h.Format != format:
		return h, fmt.Errorf("%w: the header says format %d, the prefix %d", ErrBadBackup, h.Format, format)
	case h.Schema > SchemaVersion:
		return h, fmt.Errorf("%w: the backup holds a schema %d store, this pbxtopo reads up to %d: restore it with a newer pbxtopo", ErrNewerSchema, h.Schema, SchemaVersion)
	case h.Schema < 1 || h.Cluster == "" || h.Length <= 0:
		return h, fmt.Errorf("%w: the header lacks its schema, cluster or length", ErrBadBackup)
	}
	return h, nil
}

// ReadBackup checks a whole backup from r, copying its store image to img
// (which may be io.Discard to only verify). It returns ErrBadBackup when
// the file is truncated, carries extra bytes or fails its checksum; img
// then holds bytes that must not be used.
func ReadBackup(r io.Reader, img io.Writer) (BackupHeader, error) {
	sum := sha256.New()
	br := bufio.NewReaderSize(r, 1<<20)
	h, err := ReadBackupHeader(io.TeeReader(br, sum))
	if err != nil {
		return h, err
	}
	n, err := io.Copy(img, io.TeeReader(io.LimitReader(br, h.Length), sum))
	if err != nil {
		return h, fmt.Errorf("store: backup image: %w", err)
	}
	if n != h.Length {
		return h, fmt.Errorf("%w: the file is truncated: %d of the image's %d bytes", ErrBadBackup, n, h.Length)
	}
	return h, checkSum(br, sum)
}

func checkSum(r io.Reader, sum hash.Hash) error {
	var want [sha256.Size]byte
	if _, err := io.ReadFull(r, want[:]); err != nil {
		return fmt.Errorf("%w: the file is truncated: its checksum is missing", ErrBadBackup)
	}
	if !bytes.Equal(want[:], sum.Sum(nil)) {
		return fmt.Errorf("%w: the SHA-256 checksum does not match: the file is corrupt", ErrBadBackup)
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(r, 1)); n != 0 {
		return fmt.Errorf("%w: extra bytes after the checksum", ErrBadBackup)
	}
	return nil
}

// RestoreResult says what RestoreBackup made.
type RestoreResult struct {
	Header      BackupHeader
	Incarnation uint64 // the new incarnation
}

// RestoreBackup checks the backup in r and writes its store to path, which
// must not exist, under a new incarnation (DESIGN.md: a restored replica
// never reuses the sequence numbers of the one backed up). The store
// forgets its Raft state (applied index, agreed identity), so that the
// agent's Raft is seeded from it (raftstore ensureSeeded) and the cluster
// agrees on the new incarnation. On any error nothing is left at path.
func RestoreBackup(r io.Reader, path string) (RestoreResult, error) {
	var res RestoreResult
	if _, err := os.Stat(path); err == nil {
		return res, fmt.Errorf("store: restore: %s exists: restore into an empty data dir (or move the store aside)", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return res, fmt.Errorf("store: restore: %w", err)
	}
	tmp := path + ".restoring"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return res, fmt.Errorf("store: restore: %w", err)
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(f, 1<<20)
	res.Header, err = ReadBackup(r, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	if res.Incarnation, err = randomIncarnation(); err != nil {
		return res, err
	}
	if err := reincarnate(tmp, res.Header, res.Incarnation); err != nil {
		return res, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("store: restore: %w", err)
	}
	return res, atomicfile.SyncDir(filepath.Dir(path))
}

// reincarnate checks the restored file and gives it a new incarnation.
func reincarnate(path string, h BackupHeader, inc uint64) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%w: the image is not a store: %v", ErrBadBackup, err)
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		var bad error
		for err := range tx.Check() { // drain: the checker sends them all
			if bad == nil {
				bad = fmt.Errorf("%w: the image is inconsistent: %v", ErrBadBackup, err)
			}
		}
		if bad != nil {
			return bad
		}
		m := tx.Bucket(bMeta)
		if m == nil || string(m.Get(kReplica)) != h.Cluster {
			return fmt.Errorf("%w: the image is not the store of cluster %q its header names", ErrBadBackup, h.Cluster)
		}
		if err := m.Put(kIncarnation, u64(inc)); err != nil {
			return err
		}
		for _, k := range [][]byte{kIdentity, kRaftIndex, kAgent} {
			if err := m.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
