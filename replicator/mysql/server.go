package mysql

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
)

// serverInfo is what the bridge learns of the server when it connects.
type serverInfo struct {
	id          Checkpoint // ServerID, ServerUUID and Instance
	version     string
	flavor      string
	noBackslash bool // sql_mode has NO_BACKSLASH_ESCAPES
}

// checkServer checks the settings the bridge needs and makes sure the
// marker table exists.
func (b *Bridge) checkServer(c *client.Conn) (serverInfo, error) {
	rows, err := queryStrings(c, "SELECT @@version, @@server_id, @@log_bin, @@binlog_format, @@binlog_row_image, @@sql_mode")
	if err != nil || len(rows) != 1 {
		return serverInfo{}, fmt.Errorf("%w: read server settings: %v", ErrServer, err)
	}
	r := rows[0]
	info := serverInfo{version: str(r[0]), flavor: flavor(str(r[0])),
		noBackslash: strings.Contains(str(r[5]), "NO_BACKSLASH_ESCAPES")}
	id, _ := strconv.ParseUint(str(r[1]), 10, 32)
	info.id.ServerID = uint32(id)
	switch {
	case str(r[2]) != "1":
		return info, fmt.Errorf("%w: the binary log is off (log_bin); start the server with log_bin=mysql-bin and binlog_format=ROW in my.cnf", ErrServer)
	case !strings.EqualFold(str(r[3]), "ROW"):
		return info, fmt.Errorf("%w: binlog_format is %s; the bridge reads rows: set binlog_format=ROW in my.cnf and SET GLOBAL binlog_format=ROW", ErrServer, str(r[3]))
	case !strings.EqualFold(str(r[4]), "FULL"):
		return info, fmt.Errorf("%w: binlog_row_image is %s; the bridge needs whole rows: set binlog_row_image=FULL", ErrServer, str(r[4]))
	}
	if info.flavor != "mariadb" {
		if u, err := queryStrings(c, "SELECT @@server_uuid"); err == nil && len(u) == 1 {
			info.id.ServerUUID = str(u[0][0])
		}
	}
	if info.id.Instance, err = b.ensureMarker(c, info.noBackslash); err != nil {
		return info, err
	}
	return info, nil
}

// ensureMarker creates the marker table and this bridge's row, and returns
// the row's instance id. Every SQL transaction of the bridge rewrites the
// row's nonce, so the binlog reader knows the transaction as its own.
func (b *Bridge) ensureMarker(c *client.Conn, noBackslash bool) (string, error) {
	m := ident(b.cfg.MarkerTable)
	if _, err := c.Execute("CREATE TABLE IF NOT EXISTS " + m + " (bridge VARCHAR(64) NOT NULL PRIMARY KEY, " +
		"instance VARCHAR(32) NOT NULL, nonce VARCHAR(32) NOT NULL) ENGINE=InnoDB"); err != nil {
		return "", fmt.Errorf("%w: create the marker table %s: %v (grant the bridge's user CREATE, or create it yourself; see docs/operator-guide.md, MySQL realtime bridge)", ErrServer, b.cfg.MarkerTable, err)
	}
	name := quote(b.cfg.Name, noBackslash)
	sel := "SELECT instance FROM " + m + " WHERE bridge = " + name
	rows, err := queryStrings(c, sel)
	if err != nil {
		return "", fmt.Errorf("%w: read the marker table: %v", ErrServer, err)
	}
	if len(rows) == 0 {
		inst := randomHex()
		if _, err := c.Execute("INSERT IGNORE INTO " + m + " (bridge, instance, nonce) VALUES (" + name + ", '" + inst + "', '" + randomHex() + "')"); err != nil {
			return "", fmt.Errorf("%w: write the marker table: %v", ErrServer, err)
		}
		if rows, err = queryStrings(c, sel); err != nil || len(rows) == 0 {
			return "", fmt.Errorf("%w: read the marker table: %v", ErrServer, err)
		}
	}
	return str(rows[0][0]), nil
}

// markStatement is the first statement of every bridge transaction.
func (b *Bridge) markStatement(noBackslash bool) string {
	return "UPDATE " + ident(b.cfg.MarkerTable) + " SET nonce = '" + randomHex() + "' WHERE bridge = " + quote(b.cfg.Name, noBackslash)
}

func randomHex() string {
	var x [16]byte
	rand.Read(x[:])
	return hex.EncodeToString(x[:])
}
