package mysql

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config configures a Bridge. The agent reads it from the mysql.* keys.
type Config struct {
	// DSN is the realtime database: user:password@tcp(host:port)/database
	// (mysql.dsn).
	DSN string
	// Mapping names the shipped mapping: guide, sippeers or pjsip
	// (mysql.mapping).
	Mapping string
	// Tables limits the bridge to some of the mapping's MySQL tables;
	// empty means all of them (mysql.tables).
	Tables []string
	// ServerID is the id the binlog client registers with; it must differ
	// from every server id of the MySQL replication topology and from
	// every other bridge reading the same server (mysql.server_id). 0
	// derives one from the cluster and Name (DerivedServerID).
	ServerID uint32
	// Name identifies this bridge in the marker table and the local
	// checkpoint keys (mysql.name).
	Name string
	// MarkerTable is the table the bridge creates for its echo marker
	// (mysql.marker_table).
	MarkerTable string
	// BatchRows bounds the rows of one store write and of one SQL
	// transaction (mysql.batch_rows).
	BatchRows int
	// MinBackoff and MaxBackoff bound the wait before a reconnect
	// (mysql.min_backoff, mysql.max_backoff).
	MinBackoff, MaxBackoff time.Duration
	// Author is the author of the store changes made from the binlog.
	Author string
	// FullPassEvery is how often the outbound side compares every record
	// with what MySQL holds, whatever the change feed said.
	FullPassEvery time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Mapping:     "guide",
		Name:        "mysql",
		MarkerTable: "pbxtopo_bridge",
		BatchRows:   1000,
		MinBackoff:  200 * time.Millisecond,
		MaxBackoff:  30 * time.Second,
		Author:      "mysql",

		FullPassEvery: 10 * time.Minute,
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z0-9_$]{1,64}$`)

// Validate checks the config and says which key to fix.
func (c Config) Validate() error {
	if _, err := ParseDSN(c.DSN); err != nil {
		return err
	}
	m, err := LookupMapping(c.Mapping)
	if err != nil {
		return err
	}
	if _, err := m.Select(c.Tables); err != nil {
		return err
	}
	switch {
	case !identRE.MatchString(c.Name):
		return fmt.Errorf("%w: mysql.name %q: use 1-64 letters, digits or '_'", ErrConfig, c.Name)
	case !identRE.MatchString(c.MarkerTable):
		return fmt.Errorf("%w: mysql.marker_table %q: use 1-64 letters, digits or '_'", ErrConfig, c.MarkerTable)
	case c.BatchRows < 1 || c.BatchRows > 100000:
		return fmt.Errorf("%w: mysql.batch_rows %d: use 1-100000", ErrConfig, c.BatchRows)
	case c.FullPassEvery <= 0:
		return fmt.Errorf("%w: the full pass interval must be positive", ErrConfig)
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("%w: mysql.min_backoff and mysql.max_backoff must be positive, min <= max", ErrConfig)
	}
	return nil
}

// DerivedServerID is the binlog client's server id when mysql.server_id
// is 0: a hash of the cluster and the bridge's name, in 2^24..2^31, so two
// bridges reading one server (two clusters, or two names) differ and keep
// clear of the small ids servers usually have.
func DerivedServerID(cluster, name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(cluster + "\x00" + name))
	return 1<<24 + h.Sum32()%(1<<31-1<<24)
}

// DSN is a parsed mysql.dsn.
type DSN struct {
	User, Password string
	Addr           string // host:port, or a unix socket path
	Database       string
}

// ParseDSN parses user[:password]@tcp(host:port)/database, the form of
// the Go MySQL driver ("@unix(/path/sock)/db" for a socket). Options after
// '?' are refused rather than ignored.
func ParseDSN(s string) (DSN, error) {
	bad := func(why string) (DSN, error) {
		return DSN{}, fmt.Errorf("%w: mysql.dsn %q: %s; want user:password@tcp(host:port)/database", ErrConfig, redactDSN(s), why)
	}
	if s == "" {
		return bad("empty")
	}
	at := strings.LastIndex(s, "@")
	if at <= 0 {
		return bad("no user")
	}
	var d DSN
	d.User, d.Password, _ = strings.Cut(s[:at], ":")
	rest := s[at+1:]
	proto, rest, ok := strings.Cut(rest, "(")
	if !ok || (proto != "tcp" && proto != "unix") {
		return bad("the address must be tcp(host:port) or unix(path)")
	}
	addr, rest, ok := strings.Cut(rest, ")")
	if !ok || addr == "" {
		return bad("unclosed or empty address")
	}
	if proto == "tcp" {
		host, port, err := splitHostPort(addr)
		if err != nil {
			return bad(err.Error())
		}
		addr = host + ":" + port
	} else if !strings.HasPrefix(addr, "/") {
		return bad("a unix socket path must be absolute")
	}
	d.Addr = addr
	if !strings.HasPrefix(rest, "/") {
		return bad("no /database")
	}
	d.Database = rest[1:]
	if strings.Contains(d.Database, "?") {
		return bad("options after '?' are not supported")
	}
	if !identRE.MatchString(d.Database) {
		return bad("the database name must be 1-64 letters, digits, '_' or '$'")
	}
	if d.User == "" || strings.ContainsAny(d.User, "\x00'\"\\`") {
		return bad("bad user name")
	}
	return d, nil
}

func splitHostPort(addr string) (string, string, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, "3306", nil
	}
	host, port := addr[:i], addr[i+1:]
	if host == "" {
		return "", "", fmt.Errorf("no host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("port %q is not 1-65535", port)
	}
	return host, port, nil
}

// String returns the DSN with the password hidden.
func (d DSN) String() string {
	proto := "tcp"
	if strings.HasPrefix(d.Addr, "/") {
		proto = "unix"
	}
	pw := ""
	if d.Password != "" {
		pw = ":****"
	}
	return d.User + pw + "@" + proto + "(" + d.Addr + ")/" + d.Database
}

func redactDSN(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	if u, _, ok := strings.Cut(s[:at], ":"); ok {
		return u + ":****" + s[at:]
	}
	return s
}

// Deps are the bridge's collaborators.
type Deps struct {
	Store  Store
	Logger *slog.Logger
}
