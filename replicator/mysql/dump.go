package mysql

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/store"
)

// dump reads every mapped table in one consistent snapshot, with the
// binlog position that snapshot corresponds to, and takes the rows into
// the store. Records the store holds that MySQL once held (the hold says
// so) and no longer does were deleted in MySQL meanwhile and are deleted;
// records MySQL never held are left for the outbound side to write.
func (in *inbound) dump(ctx context.Context, reason string) (Checkpoint, error) {
	b := in.b
	b.setState(StateDumping, nil)
	b.log.Info("taking a consistent dump of the realtime tables", "reason", reason)
	pos, tables, err := in.snapshot()
	if err != nil {
		return Checkpoint{}, err
	}
	seen := map[string]bool{} // primary table + key
	var changes []rowChange
	for i, t := range b.tables {
		for _, r := range tables[i] {
			if t.Primary {
				// A row without a key is parked by ingest.
				if key, err := t.RecordKey(r, b.cluster, Finder{}); err == nil {
					seen[t.Name+"\x00"+key] = true
				}
			}
			changes = append(changes, rowChange{t: t, after: r})
		}
	}
	gone, err := in.goneSinceLastSync(seen)
	if err != nil {
		return Checkpoint{}, err
	}
	changes = append(changes, gone...)
	ckpt := in.srv.id
	ckpt.File, ckpt.Pos = pos.File, pos.Pos
	made := 0
	for start := 0; start < len(changes) || start == 0; start += b.cfg.BatchRows {
		end := min(start+b.cfg.BatchRows, len(changes))
		var extra map[string][]byte
		if end == len(changes) {
			extra = map[string][]byte{b.checkpointKey(): ckpt.encode()}
		}
		n, err := b.ingest(ctx, changes[start:end], extra)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("dump: %w", err)
		}
		made += n
		if end == len(changes) {
			break
		}
	}
	b.update(func(s *BridgeStatus) { s.Dumps++; s.RowsIn += uint64(len(changes)); s.ChangesIn += uint64(made) })
	b.log.Info("dump taken", "rows", len(changes), "store_changes", made, "position", ckpt.String())
	return ckpt, nil
}

// snapshot reads the mapped tables in one consistent read and returns the
// binlog position it corresponds to.
func (in *inbound) snapshot() (Checkpoint, [][]Row, error) {
	c := in.conn
	if _, err := c.Execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return Checkpoint{}, nil, err
	}
	var pos Checkpoint
	// MariaDB names the binlog position of a consistent snapshot without
	// any lock; MySQL needs a short global read lock to read it.
	if _, err := c.Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return Checkpoint{}, nil, err
	}
	rows, err := queryStrings(c, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err == nil {
		for _, r := range rows {
			switch strings.ToLower(str(r[0])) {
			case "binlog_snapshot_file":
				pos.File = str(r[1])
			case "binlog_snapshot_position":
				p, _ := strconv.ParseUint(str(r[1]), 10, 32)
				pos.Pos = uint32(p)
			}
		}
	}
	if pos.File == "" {
		c.Execute("ROLLBACK")
		if _, err := c.Execute("FLUSH TABLES WITH READ LOCK"); err != nil {
			return Checkpoint{}, nil, fmt.Errorf("%w: FLUSH TABLES WITH READ LOCK for a consistent dump: %v (grant the bridge's user RELOAD)", ErrServer, err)
		}
		if _, err := c.Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			c.Execute("UNLOCK TABLES")
			return Checkpoint{}, nil, err
		}
		st, err := queryStrings(c, "SHOW MASTER STATUS")
		c.Execute("UNLOCK TABLES")
		if err != nil || len(st) == 0 {
			c.Execute("ROLLBACK")
			return Checkpoint{}, nil, fmt.Errorf("%w: SHOW MASTER STATUS: %v", ErrServer, err)
		}
		p, _ := strconv.ParseUint(str(st[0][1]), 10, 32)
		pos.File, pos.Pos = str(st[0][0]), uint32(p)
	}
	defer c.Execute("COMMIT")
	out := make([][]Row, len(in.b.tables))
	for i, t := range in.b.tables {
		if out[i], err = selectRows(c, t, in.schemas[strings.ToLower(t.Name)], ""); err != nil {
			return Checkpoint{}, nil, fmt.Errorf("dump %s: %w", t.Name, err)
		}
	}
	return pos, out, nil
}

// goneSinceLastSync returns deletions for records of a primary table that
// MySQL held (their hold matches the store's winner) but no longer has.
func (in *inbound) goneSinceLastSync(seen map[string]bool) ([]rowChange, error) {
	b := in.b
	var out []rowChange
	err := b.st.View(func(sn *store.Snapshot) error {
		for _, t := range b.tables {
			if !t.Primary {
				continue
			}
			prefix := ""
			if t.ClusterColumn == "" {
				prefix = b.cluster + "/"
			}
			err := sn.Scan(t.Store.Name, prefix, func(key string, _ []byte) error {
				if seen[t.Name+"\x00"+key] {
					return nil
				}
				hold := sn.Local(b.holdKey(t.Name, key))
				if hold == nil || bytes.Equal(hold, absent) {
					return nil
				}
				f, live, err := winnerFields(sn, t.Store.Name, key)
				if err != nil || !bytes.Equal(hold, holdOf(t, f, live)) {
					return err
				}
				kf, err := t.Store.ParseKey(key)
				if err != nil {
					return err
				}
				row := Row{t.NumberColumn: strp(kf[t.numberField()])}
				if t.ClusterColumn != "" {
					row[t.ClusterColumn] = strp(kf["cluster"])
				}
				out = append(out, rowChange{t: t, key: row})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
