package mysql

import "errors"

// Sentinel errors; the messages wrapped around them name the table, column
// or row and say what to fix.
var (
	// ErrConfig: a mysql.* config key is wrong.
	ErrConfig = errors.New("bad mysql bridge config")
	// ErrServer: the MySQL server is not set up for the bridge (binary log
	// off, not ROW format, missing privileges or unique keys).
	ErrServer = errors.New("mysql server not ready for the bridge")
	// ErrUnmappable: a column type or value cannot be mapped to a pbx
	// field. A row with such a value is parked; a column type stops the
	// bridge.
	ErrUnmappable = errors.New("cannot map")
	// ErrSchemaChanged: a mapped table's columns differ from the binlog's
	// row image (DDL since the event was written).
	ErrSchemaChanged = errors.New("table schema changed")
)

// errResync ends a binlog session that must start again from the stored
// checkpoint at once (after a dump); it is not a failure.
var errResync = errors.New("resync from the new checkpoint")
