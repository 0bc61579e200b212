package mysql

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
)

// The bridge keeps its state in the store's local (never replicated)
// space, written in the same transaction as the changes it covers:
//
//	mysql/NAME/checkpoint            the binlog position reached (JSON)
//	mysql/NAME/hold/TABLE/KEY        what the MySQL row of a record holds:
//	                                 a hash of the fields the table owns
//	                                 (and, for a voicemail box, the box)
//	mysql/NAME/parked                the rows parked on the way in (JSON)
//
// The hold is the common base of the store and MySQL for a row. The
// outbound side writes a record to MySQL only when its winner differs from
// the hold; the inbound side supersedes the version MySQL held, so a MySQL
// write concurrent with a remote one becomes a conflict.

// Checkpoint is the binlog position the store has taken in, and the server
// it belongs to.
type Checkpoint struct {
	ServerID   uint32 `json:"server_id"`
	ServerUUID string `json:"server_uuid,omitempty"` // MySQL's @@server_uuid; empty on MariaDB
	Instance   string `json:"instance"`              // the marker row's random id: a wiped database gets a new one
	File       string `json:"file"`
	Pos        uint32 `json:"pos"`
	GTID       string `json:"gtid,omitempty"` // the last transaction's GTID, for status
}

// String is the position as MySQL tools print it.
func (c Checkpoint) String() string { return c.File + ":" + strconv.FormatUint(uint64(c.Pos), 10) }

// SameServer reports whether c was taken on the server described by o.
func (c Checkpoint) SameServer(o Checkpoint) bool {
	return c.ServerID == o.ServerID && c.ServerUUID == o.ServerUUID && c.Instance == o.Instance
}

// DecodeCheckpoint parses a stored checkpoint.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	if c.File == "" || c.Pos < 4 || strings.ContainsAny(c.File, "/\\\x00") || c.Instance == "" {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: no binlog file, position or instance", b)
	}
	return c, nil
}

func (c Checkpoint) encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

func (b *Bridge) checkpointKey() string { return "mysql/" + b.cfg.Name + "/checkpoint" }

func (b *Bridge) holdKey(table, key string) string {
	return "mysql/" + b.cfg.Name + "/hold/" + table + "/" + key
}

// absent is the hold of a row that does not exist.
var absent = []byte{0}

// holdOf returns the hold of a record as table t would hold it: a hash of
// the fields t owns, or absent when t has no row for it. A voicemail
// table's hold ends with the box (NUMBER@CONTEXT), which its row is found
// by when the record's mailbox moves.
func holdOf(t *TableMap, f pbx.Fields, live bool) []byte {
	if !live || !t.Present(f) {
		return absent
	}
	if t.ByMailbox {
		return append(fieldsHash(t, f), boxOf(f["mailbox"])...)
	}
	return fieldsHash(t, f)
}

// holdHash is the hash part of a hold (absent stays absent).
func holdHash(h []byte) []byte {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// holdBox is the box a voicemail hold names, "" for others.
func holdBox(h []byte) string {
	if len(h) > 16 {
		return string(h[16:])
	}
	return ""
}

// fieldsHash hashes "name\0value\0" of every owned field that is set, in
// name order, all in one buffer (holds are stored: the bytes hashed must
// not change). It walks the record's fields, fewer than a wide table's
// owned ones.
func fieldsHash(t *TableMap, f pbx.Fields) []byte {
	owned, index := t.Owned(), t.ownedIndexes()
	var stack [128]string
	var vals []string
	if len(owned) <= len(stack) {
		vals = stack[:len(owned)]
	} else {
		vals = make([]string, len(owned))
	}
	for k, v := range f {
		if i, ok := index[k]; ok {
			vals[i] = v
		}
	}
	var buf [1024]byte
	b := buf[:0]
	for i, name := range owned {
		if vals[i] != "" {
			b = append(b, name...)
			b = append(b, 0)
			b = append(b, vals[i]...)
			b = append(b, 0)
		}
	}
	sum := sha256.Sum256(b)
	return append(make([]byte, 0, 16+32), sum[:16]...)
}

// rawHold is holdOf of a record's binary form (nil: deleted), read
// without decoding it into a map: most records the outbound side looks at
// are what MySQL holds already.
func rawHold(t *TableMap, raw []byte) ([]byte, error) {
	if raw == nil {
		return absent, nil
	}
	owned, index := t.Owned(), t.ownedIndexes()
	var stack [128][]byte
	var vals [][]byte
	if len(owned) <= len(stack) {
		vals = stack[:len(owned)]
	} else {
		vals = make([][]byte, len(owned))
	}
	var protocol, mailbox []byte
	presentIf := false
	ok := pbx.EachField(raw, func(name string, v []byte) bool {
		if i, ok := index[name]; ok {
			vals[i] = v
		}
		switch name {
		case "protocol":
			protocol = v
		case "mailbox":
			mailbox = v
		}
		if !presentIf && has(t.PresentIf, name) {
			presentIf = true
		}
		return true
	})
	if !ok {
		return nil, fmt.Errorf("%s: a stored record's binary form is cut short or damaged", t.Name)
	}
	// Present, as t.Present reads the decoded record.
	if len(t.Protocols) > 0 {
		p := string(protocol)
		if p == "" {
			p = t.protocol(nil)
		}
		if !has(t.Protocols, p) {
			return absent, nil
		}
	}
	if len(t.PresentIf) > 0 && !presentIf {
		return absent, nil
	}
	var buf [1024]byte
	b := buf[:0]
	for i, name := range owned {
		if len(vals[i]) > 0 {
			b = append(b, name...)
			b = append(b, 0)
			b = append(b, vals[i]...)
			b = append(b, 0)
		}
	}
	sum := sha256.Sum256(b)
	h := append(make([]byte, 0, 16+32), sum[:16]...)
	if t.ByMailbox {
		h = append(h, boxOf(string(mailbox))...)
	}
	return h, nil
}
