package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"

	"github.com/pbxtopo/pbxtopo/internal/atomicfile"
)

// A kv file is a small map written whole and replaced atomically: write a
// temporary file, fsync it, rename it over the old one, fsync the
// directory. A reader sees the old map or the new one, never a mix.
//
//	count u32 | (keyLen u32 | key | valLen u32 | val)* | crc32c u32 of all before

func writeKV(path string, m map[string][]byte) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	buf := binary.LittleEndian.AppendUint32(nil, uint32(len(keys)))
	for _, k := range keys {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(k)))
		buf = append(buf, k...)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(m[k])))
		buf = append(buf, m[k]...)
	}
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	return atomicfile.WriteFile(path, buf, 0o600)
}

// readKV reads a kv file; a missing file is an empty map.
func readKV(path string) (map[string][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := decodeKV(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return m, nil
}

func decodeKV(b []byte) (map[string][]byte, error) {
	if len(b) < 8 {
		return nil, errors.New("too short")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errCRC
	}
	n := binary.LittleEndian.Uint32(body)
	body = body[4:]
	m := make(map[string][]byte, min(n, 64))
	next := func() ([]byte, bool) {
		if len(body) < 4 {
			return nil, false
		}
		l := binary.LittleEndian.Uint32(body)
		if uint64(l) > uint64(len(body)-4) {
			return nil, false
		}
		v := body[4 : 4+l]
		body = body[4+l:]
		return v, true
	}
	for range n {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return nil, errors.New("truncated entry")
		}
		m[string(k)] = append([]byte(nil), v...)
	}
	if len(body) != 0 {
		return nil, errors.New("trailing bytes")
	}
	return m, nil
}
