package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pbxtopo/pbxtopo/store"
)

// inbound is one session of following the binlog.
type inbound struct {
	b       *Bridge
	conn    *client.Conn
	srv     serverInfo
	schemas map[string]*tableSchema // by lower-case table name
	byName  map[string]*TableMap

	tx     []rowChange // the open transaction
	txEcho bool
	group  []rowChange // committed transactions not yet written
	pos    Checkpoint  // the position after the last committed transaction read
	target Checkpoint  // the server's position when the session began
	moved  bool        // pos is ahead of the stored checkpoint
	saved  time.Time
}

// runInbound connects, checks the server, dumps when it must, then streams
// the binlog until ctx ends or something fails. ready is closed once the
// store has caught up with MySQL (the outbound side waits for it).
func (b *Bridge) runInbound(ctx context.Context, ready chan struct{}) error {
	conn, err := connect(ctx, b.dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	srv, err := b.checkServer(conn)
	if err != nil {
		return err
	}
	in := &inbound{b: b, conn: conn, srv: srv, schemas: map[string]*tableSchema{}, byName: map[string]*TableMap{}}
	for _, t := range b.tables {
		s, err := loadSchema(conn, b.dsn.Database, t.Name)
		if err != nil {
			return err
		}
		if err := checkTable(conn, b.dsn.Database, t, s); err != nil {
			return err
		}
		in.schemas[strings.ToLower(t.Name)] = s
		in.byName[strings.ToLower(t.Name)] = t
	}
	b.update(func(s *BridgeStatus) { s.Server, s.ServerID = srv.version, srv.id.ServerID })
	if err := b.loadParked(); err != nil {
		return err
	}

	ckpt, reason, err := in.resumePoint()
	if err != nil {
		return err
	}
	if reason != "" {
		if ckpt, err = in.dump(ctx, reason); err != nil {
			return err
		}
	}
	in.pos, in.saved = ckpt, time.Now()
	if st, err := queryStrings(conn, "SHOW MASTER STATUS"); err == nil && len(st) == 1 {
		p, _ := strconv.ParseUint(str(st[0][1]), 10, 32)
		in.target = Checkpoint{File: str(st[0][0]), Pos: uint32(p)}
	}
	b.setState(StateFollowing, func(s *BridgeStatus) { s.Position = ckpt.String(); s.LastError = "" })
	b.log.Info("following the binlog", "position", ckpt.String(), "server_id", srv.id.ServerID)
	return in.stream(ctx, ready)
}

// resumePoint returns the stored checkpoint, or why a dump is needed.
func (in *inbound) resumePoint() (Checkpoint, string, error) {
	var raw []byte
	if err := in.b.st.View(func(sn *store.Snapshot) error { raw = sn.Local(in.b.checkpointKey()); return nil }); err != nil {
		return Checkpoint{}, "", err
	}
	if raw == nil {
		return Checkpoint{}, "no checkpoint in the store", nil
	}
	ckpt, err := DecodeCheckpoint(raw)
	if err != nil {
		return Checkpoint{}, fmt.Sprintf("unreadable checkpoint (%v)", err), nil
	}
	if !ckpt.SameServer(in.srv.id) {
		return Checkpoint{}, fmt.Sprintf("the checkpoint belongs to server id %d instance %s, this is server id %d instance %s",
			ckpt.ServerID, ckpt.Instance, in.srv.id.ServerID, in.srv.id.Instance), nil
	}
	logs, err := queryStrings(in.conn, "SHOW BINARY LOGS")
	if err != nil {
		return Checkpoint{}, "", fmt.Errorf("%w: SHOW BINARY LOGS: %v (grant the bridge's user REPLICATION CLIENT / BINLOG MONITOR)", ErrServer, err)
	}
	for _, l := range logs {
		if str(l[0]) == ckpt.File {
			size, _ := strconv.ParseUint(str(l[1]), 10, 64)
			if uint64(ckpt.Pos) <= size {
				return ckpt, "", nil
			}
			return Checkpoint{}, fmt.Sprintf("position %s is past the end of %s (%d bytes)", ckpt, ckpt.File, size), nil
		}
	}
	return Checkpoint{}, fmt.Sprintf("binlog %s of the checkpoint %s was purged", ckpt.File, ckpt), nil
}

func (in *inbound) stream(ctx context.Context, ready chan struct{}) error {
	b := in.b
	host, portS, _ := net.SplitHostPort(in.b.dsn.Addr)
	port, _ := strconv.Atoi(portS)
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: b.cfg.ServerID, Flavor: in.srv.flavor, Host: host, Port: uint16(port),
		User: b.dsn.User, Password: b.dsn.Password, Charset: "utf8mb4",
		DisableRetrySync: true, HeartbeatPeriod: time.Second, ReadTimeout: 10 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	defer syncer.Close()
	streamer, err := syncer.StartSync(gmysql.Position{Name: in.pos.File, Pos: in.pos.Pos})
	if err != nil {
		return fmt.Errorf("start the binlog stream at %s: %w", in.pos, serverIDHint(err, b.cfg.ServerID))
	}
	file := in.pos.File
	changed := b.st.Changed()
	var retried time.Time
	for {
		// How long to wait for the next event before writing what waits:
		// rows at once when the stream pauses, a bare position at most
		// once a second.
		wait := time.Duration(0)
		switch {
		case len(in.group) > 0:
			wait = 2 * time.Millisecond
		case !isClosed(ready):
			wait = 50 * time.Millisecond
		case in.moved:
			wait = max(time.Millisecond, time.Until(in.saved.Add(time.Second)))
		case b.hasParkedIn():
			wait = parkRetryEvery
		}
		ev, err := getEvent(ctx, streamer, wait)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			// Nothing more for now: write what is waiting.
			if err := in.flush(ctx); err != nil {
				return err
			}
			if len(in.tx) == 0 && !isClosed(ready) {
				closeOnce(ready)
				b.update(func(s *BridgeStatus) { s.Caught = true })
			}
			if len(in.tx) == 0 {
				b.caughtUp()
				// Idle and caught up: parked rows are tried again with
				// MySQL's current values when the store moved (a fix in
				// pbxtopo) or now and then.
				if b.hasParkedIn() && (isClosed(changed) || time.Since(retried) > 10*parkRetryEvery) {
					changed, retried = b.st.Changed(), time.Now()
					if err := in.retryParked(ctx); err != nil {
						return err
					}
				}
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				in.flush(context.WithoutCancel(ctx))
				return nil
			}
			return fmt.Errorf("binlog stream at %s: %w", in.pos, serverIDHint(err, b.cfg.ServerID))
		}
		if ev.Header.EventType == replication.HEARTBEAT_EVENT || ev.Header.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
			// The server had nothing more to send.
			if len(in.tx) == 0 && len(in.group) == 0 {
				b.caughtUp()
			}
		} else if ts := ev.Header.Timestamp; ts != 0 {
			t := time.Unix(int64(ts), 0)
			b.update(func(s *BridgeStatus) { s.LastEvent = t })
		}
		if err := in.handle(ctx, ev, &file); err != nil {
			return err
		}
		// Caught up once the position the server had when the session
		// began is written: a busy server may never pause the stream.
		if !isClosed(ready) && len(in.tx) == 0 && in.target.File != "" && !before(in.pos, in.target) {
			if err := in.flush(ctx); err != nil {
				return err
			}
			closeOnce(ready)
			b.update(func(s *BridgeStatus) { s.Caught = true })
		}
	}
}

// before reports whether position p comes before q.
func before(p, q Checkpoint) bool {
	return p.File < q.File || p.File == q.File && p.Pos < q.Pos
}

// handle takes one binlog event; file is the binlog file being read.
func (in *inbound) handle(ctx context.Context, ev *replication.BinlogEvent, file *string) error {
	b := in.b
	end := Checkpoint{File: *file, Pos: ev.Header.LogPos}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		*file = string(e.NextLogName)
		if len(in.tx) == 0 {
			in.advance(Checkpoint{File: *file, Pos: uint32(e.Position)})
		}
	case *replication.MariadbGTIDEvent:
		in.begin()
		gtid := e.GTID.String()
		b.update(func(s *BridgeStatus) { s.GTID = gtid })
	case *replication.GTIDEvent:
		if g, err := e.GTIDNext(); err == nil {
			gtid := g.String()
			b.update(func(s *BridgeStatus) { s.GTID = gtid })
		}
	case *replication.TransactionPayloadEvent:
		// MySQL's binlog_transaction_compression: a whole transaction
		// inside one event. Its end is the payload event's end.
		for _, inner := range e.Events {
			inner.Header.LogPos = ev.Header.LogPos
			if err := in.handle(ctx, inner, file); err != nil {
				return err
			}
		}
	case *replication.RowsEvent:
		return in.rows(e, end.String())
	case *replication.XIDEvent:
		return in.commit(ctx, end)
	case *replication.QueryEvent:
		return in.query(ctx, e, end)
	}
	return nil
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// closeOnce closes c unless it is closed; only the inbound goroutine
// calls it, one session after another.
func closeOnce(c chan struct{}) {
	if !isClosed(c) {
		close(c)
	}
}

// getEvent waits for the next event, at most wait when wait > 0.
func getEvent(ctx context.Context, s *replication.BinlogStreamer, wait time.Duration) (*replication.BinlogEvent, error) {
	if wait <= 0 {
		return s.GetEvent(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return s.GetEvent(wctx)
}

func (in *inbound) begin() { in.tx, in.txEcho = in.tx[:0], false }

func (in *inbound) advance(p Checkpoint) {
	if in.pos.File == p.File && in.pos.Pos == p.Pos {
		return
	}
	in.pos.File, in.pos.Pos = p.File, p.Pos
	in.moved = true
}

// commit ends a transaction: its rows join the group, written together
// once the group is full or the stream pauses.
func (in *inbound) commit(ctx context.Context, end Checkpoint) error {
	if in.txEcho {
		for i := range in.tx {
			in.tx[i].echo = true
		}
	}
	in.group = append(in.group, in.tx...)
	in.begin()
	in.advance(end)
	if len(in.group) >= in.b.cfg.BatchRows {
		return in.flush(ctx)
	}
	return nil
}

func (in *inbound) query(ctx context.Context, e *replication.QueryEvent, end Checkpoint) error {
	q := strings.TrimSpace(string(e.Query))
	switch strings.ToUpper(q) {
	case "BEGIN":
		in.begin()
		return nil
	case "COMMIT":
		return in.commit(ctx, end)
	case "ROLLBACK":
		in.begin()
		return nil
	}
	// A statement of its own (DDL): write what came before it, and read
	// the schema of a mapped table it names again.
	if err := in.flush(ctx); err != nil {
		return err
	}
	lq := strings.ToLower(q)
	for name, t := range in.byName {
		if mentions(lq, name) && strings.HasPrefix(lq, "truncate") {
			// TRUNCATE logs no rows: what it removed is found by a dump,
			// and the stream goes on from the dump's position.
			ckpt, err := in.dump(ctx, "TRUNCATE of table "+t.Name)
			if err != nil {
				return err
			}
			// MariaDB's snapshot position counts only transactional
			// commits and may lie before this statement: never go back
			// over it, or it would be dumped again and again.
			if before(ckpt, end) {
				ckpt.File, ckpt.Pos = end.File, end.Pos
				if _, err := in.b.ingest(ctx, nil, map[string][]byte{in.b.checkpointKey(): ckpt.encode()}); err != nil {
					return err
				}
			}
			return errResync
		}
		if mentions(lq, name) {
			in.b.log.Info("DDL on a mapped table: reading its columns again", "table", t.Name, "statement", clip(q, 200))
			s, err := loadSchema(in.conn, in.b.dsn.Database, t.Name)
			if err != nil {
				return err
			}
			if err := checkTable(in.conn, in.b.dsn.Database, t, s); err != nil {
				return err
			}
			in.schemas[name] = s
		}
	}
	in.begin()
	in.advance(end)
	return nil
}

// mentions reports whether a statement names a table as a word.
func mentions(q, table string) bool {
	for i := 0; ; {
		j := strings.Index(q[i:], table)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(q[j-1])
		after := j+len(table) == len(q) || !isWordByte(q[j+len(table)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// rows takes in the rows of one event of a mapped table or of the marker;
// pos is the event's end in the binlog.
func (in *inbound) rows(e *replication.RowsEvent, pos string) error {
	tm := e.Table
	if !strings.EqualFold(string(tm.Schema), in.b.dsn.Database) {
		return nil
	}
	name := strings.ToLower(string(tm.Table))
	if name == strings.ToLower(in.b.cfg.MarkerTable) {
		for _, r := range e.Rows {
			if len(r) > 0 {
				if s, ok := r[0].(string); ok && s == in.b.cfg.Name {
					in.txEcho = true
				}
			}
		}
		return nil
	}
	t := in.byName[name]
	if t == nil {
		return nil
	}
	cols, err := in.columns(t, tm)
	if err != nil {
		return err
	}
	// A value that cannot be read parks its row (the key columns are
	// read first, so the park names the row).
	// NULLs are left out of the row (a missing column reads as NULL):
	// most of a wide table's columns are NULL, and the map is the cost.
	conv := func(vals []any) (Row, error) {
		n := 0
		for _, v := range vals {
			if v != nil {
				n++
			}
		}
		row := make(Row, n)
		texts := make([]string, 0, n) // one allocation for the row's values
		var bad error
		for i, v := range vals {
			if i >= len(cols) || cols[i].Name == "" || v == nil {
				continue
			}
			s, err := binlogValue(v, cols[i])
			if err != nil {
				if bad == nil {
					bad = &parkError{column: cols[i].Name, err: fmt.Errorf("%s (binlog %s): %v: %w it", t.Name, pos, err, ErrUnmappable),
						fix: fmt.Sprintf("store text in %s.%s, or leave the column out of the mapping", t.Name, cols[i].Name)}
				}
				continue
			}
			texts = append(texts, s)
			row[cols[i].Name] = &texts[len(texts)-1]
		}
		// One copy of all the values, out of the event's buffer.
		n = 0
		for _, s := range texts {
			n += len(s)
		}
		var all strings.Builder
		all.Grow(n)
		for _, s := range texts {
			all.WriteString(s)
		}
		copied := all.String()
		for i, s := range texts {
			texts[i], copied = copied[:len(s)], copied[len(s):]
		}
		return row, bad
	}
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		for _, r := range e.Rows {
			row, bad := conv(r)
			in.tx = append(in.tx, rowChange{t: t, after: row, pos: pos, bad: bad})
		}
	case replication.EnumRowsEventTypeUpdate:
		for i := 0; i+1 < len(e.Rows); i += 2 {
			before, _ := conv(e.Rows[i])
			after, bad := conv(e.Rows[i+1])
			if bad == nil && sameMapped(t, before, after) {
				continue // only unmapped columns changed (e.g. Asterisk's regseconds)
			}
			if k1, k2 := rowIdentity(t, before), rowIdentity(t, after); k1 != k2 {
				in.tx = append(in.tx, rowChange{t: t, key: before, pos: pos})
			}
			in.tx = append(in.tx, rowChange{t: t, after: after, pos: pos, bad: bad})
		}
	case replication.EnumRowsEventTypeDelete:
		for _, r := range e.Rows {
			row, _ := conv(r)
			in.tx = append(in.tx, rowChange{t: t, key: row, pos: pos})
		}
	}
	return nil
}

func sameMapped(t *TableMap, a, b Row) bool {
	for _, c := range t.MappedColumns() {
		c = strings.ToLower(c)
		if (a[c] == nil) != (b[c] == nil) || (a[c] != nil && *a[c] != *b[c]) {
			return false
		}
	}
	return true
}

func rowIdentity(t *TableMap, r Row) string {
	var parts []string
	for _, c := range t.KeyColumns() {
		parts = append(parts, str(r[strings.ToLower(c)]))
	}
	return strings.Join(parts, "\x00")
}

// columns returns the columns of a row event in order: names from the
// event when the server logs them (binlog_row_metadata=FULL), else from
// information_schema, whose column count must then match.
func (in *inbound) columns(t *TableMap, tm *replication.TableMapEvent) ([]column, error) {
	s := in.schemas[strings.ToLower(t.Name)]
	names := tm.ColumnNameString()
	if len(names) != int(tm.ColumnCount) {
		if len(s.Cols) != int(tm.ColumnCount) {
			return nil, fmt.Errorf("%w: table %s has %d columns now but %d in the binlog at %s; set binlog_row_metadata=FULL (MySQL 8, MariaDB 10.5+) so the binlog names its columns",
				ErrSchemaChanged, t.Name, len(s.Cols), tm.ColumnCount, in.pos)
		}
		return s.Cols, nil
	}
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	unsigned := tm.UnsignedMap()
	out := make([]column, len(names))
	for i, n := range names {
		n = strings.ToLower(n)
		col, ok := s.col(n)
		if !ok {
			out[i] = column{} // a column the mapping does not know: ignored
			continue
		}
		if e, ok := enums[i]; ok {
			col.Enum = e
		} else if e, ok := sets[i]; ok {
			col.Enum = e
		}
		if u, ok := unsigned[i]; ok {
			col.Unsigned = u
		}
		out[i] = col
	}
	return out, nil
}

// flush writes the group with the checkpoint after it. Rows the store
// cannot take are parked in the same write, so the checkpoint moves on.
func (in *inbound) flush(ctx context.Context) error {
	if len(in.group) == 0 && (!in.moved || time.Since(in.saved) < time.Second) {
		return nil
	}
	n, err := in.b.ingest(ctx, in.group, map[string][]byte{in.b.checkpointKey(): in.pos.encode()})
	if err != nil {
		return err
	}
	rows, echo := 0, 0
	for _, c := range in.group {
		if c.echo {
			echo++
		} else {
			rows++
		}
	}
	pos := in.pos
	in.b.update(func(s *BridgeStatus) {
		s.RowsIn += uint64(rows)
		s.EchoRows += uint64(echo)
		s.ChangesIn += uint64(n)
		s.Position = pos.String()
	})
	in.group, in.moved, in.saved = in.group[:0], false, time.Now()
	return nil
}

// parkRetryEvery is how long an idle reader with parked rows waits for
// the next event before it looks at them again. It is shorter than the
// server's heartbeat period (1 s): at equal periods a heartbeat could
// arrive before every wait ended, and the parked rows were then never
// looked at again (CI saw a fixed row stay parked for 20 s).
const parkRetryEvery = 500 * time.Millisecond

// retryParked takes the parked rows again as MySQL has them now: a row
// fixed in MySQL meanwhile came through the binlog already, so this is
// for fixes in pbxtopo (the extension of a voicemail box created, a
// conflict resolved, a cluster added).
func (in *inbound) retryParked(ctx context.Context) error {
	b := in.b
	var changes []rowChange
	b.mu.Lock()
	parks := make([]ParkedRow, 0, len(b.parkedIn))
	for _, p := range b.parkedIn {
		parks = append(parks, p)
	}
	b.mu.Unlock()
	for _, p := range parks {
		t := in.byName[strings.ToLower(p.Table)]
		if t == nil || p.Side != ParkedIn {
			continue
		}
		key := Row{}
		for c, v := range p.Key {
			key[c] = strp(v)
		}
		cur, err := selectRows(in.conn, t, in.schemas[strings.ToLower(t.Name)], keyWhere(t, []Row{key}, in.srv.noBackslash))
		if err != nil {
			return fmt.Errorf("read parked %s: %w", p.Row, err)
		}
		if len(cur) == 0 {
			changes = append(changes, rowChange{t: t, key: key, pos: p.Position})
		} else {
			changes = append(changes, rowChange{t: t, after: cur[0], pos: p.Position})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, err := b.ingest(ctx, changes, nil)
	return err
}

func (b *Bridge) hasParkedIn() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.parkedIn) > 0
}

// caughtUp notes that the reader has read all the server had.
func (b *Bridge) caughtUp() {
	b.mu.Lock()
	b.caughtAt = time.Now()
	b.mu.Unlock()
}

// serverIDHint explains MariaDB's and MySQL's refusal of a binlog client
// whose server id another client (a second bridge) already uses.
func serverIDHint(err error, id uint32) error {
	var me *gmysql.MyError
	if errors.As(err, &me) && (me.Code == 4052 || me.Code == 1236 && strings.Contains(me.Message, "same server")) {
		return fmt.Errorf("%w: another binlog client of this server uses server id %d (a second bridge, or a replica): give each bridge its own mysql.server_id, or leave mysql.server_id 0 to derive one from the cluster and mysql.name", err, id)
	}
	return err
}
