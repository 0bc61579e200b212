package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/hashicorp/raft"
)

// A record frames one entry: the payload's length, a CRC32C of the length
// and the payload, then the payload. The length is in the CRC so a torn or
// flipped length is caught too.
//
//	frame:   len u32 | crc u32 | payload
//	payload: index u64 | term u64 | batch u64 | type u8 | appendedAt i64 (unix ns, 0: zero) |
//	         dataLen u32 | data | extensions (the rest)
//
// batch is the first index of the StoreLogs call that wrote the entry: on
// open it tells a torn last batch (cut) from a damaged record that a later,
// acknowledged batch follows (an error).
const (
	frameHeader   = 8
	payloadHeader = 8 + 8 + 8 + 1 + 8 + 4
	// maxPayload bounds a record's length so a damaged length cannot ask
	// for gigabytes; pbxtopo's entries stay under a few MB.
	maxPayload = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errShort = errors.New("record runs past the end of the file")
	errCRC   = errors.New("record checksum mismatch")
	errFrame = errors.New("record length out of range")
)

// appendRecord appends l's record to buf.
func appendRecord(buf []byte, l *raft.Log, batch uint64) []byte {
	n := payloadHeader + len(l.Data) + len(l.Extensions)
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, 0, 0, 0, 0) // crc, filled below
	buf = binary.LittleEndian.AppendUint64(buf, l.Index)
	buf = binary.LittleEndian.AppendUint64(buf, l.Term)
	buf = binary.LittleEndian.AppendUint64(buf, batch)
	buf = append(buf, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	buf = binary.LittleEndian.AppendUint64(buf, uint64(at))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(l.Data)))
	buf = append(buf, l.Data...)
	buf = append(buf, l.Extensions...)
	crc := crc32.Update(crc32.Checksum(buf[start:start+4], castagnoli), castagnoli, buf[start+frameHeader:])
	binary.LittleEndian.PutUint32(buf[start+4:], crc)
	return buf
}

// frameLen reads a frame header: the whole record's length, or errFrame.
func frameLen(hdr []byte) (int, error) {
	n := binary.LittleEndian.Uint32(hdr)
	if n < payloadHeader || n > maxPayload {
		return 0, errFrame
	}
	return frameHeader + int(n), nil
}

// recordHead is what a record says about its place in the log.
type recordHead struct {
	index, batch uint64
}

// checkRecord verifies rec (one whole frame) and returns its head.
func checkRecord(rec []byte) (recordHead, error) {
	if len(rec) < frameHeader {
		return recordHead{}, errShort
	}
	n, err := frameLen(rec)
	if err != nil {
		return recordHead{}, err
	}
	if len(rec) < n {
		return recordHead{}, errShort
	}
	crc := crc32.Update(crc32.Checksum(rec[:4], castagnoli), castagnoli, rec[frameHeader:n])
	if crc != binary.LittleEndian.Uint32(rec[4:]) {
		return recordHead{}, errCRC
	}
	p := rec[frameHeader:n]
	return recordHead{index: binary.LittleEndian.Uint64(p), batch: binary.LittleEndian.Uint64(p[16:])}, nil
}

// decodeRecord verifies rec and decodes it into l. It returns the frame's
// length; l's slices share rec's memory.
func decodeRecord(rec []byte, l *raft.Log) (int, error) {
	if _, err := checkRecord(rec); err != nil {
		return 0, err
	}
	n, _ := frameLen(rec)
	p := rec[frameHeader:n]
	dataLen := binary.LittleEndian.Uint32(p[33:])
	if uint64(dataLen) > uint64(len(p)-payloadHeader) {
		return 0, fmt.Errorf("record data length %d past its payload of %d bytes", dataLen, len(p))
	}
	l.Index = binary.LittleEndian.Uint64(p)
	l.Term = binary.LittleEndian.Uint64(p[8:])
	l.Type = raft.LogType(p[24])
	l.AppendedAt = time.Time{}
	if at := int64(binary.LittleEndian.Uint64(p[25:])); at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	rest := p[payloadHeader:]
	l.Data = nilIfEmpty(rest[:dataLen:dataLen])
	l.Extensions = nilIfEmpty(rest[dataLen:])
	return n, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
