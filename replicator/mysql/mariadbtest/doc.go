// Package mariadbtest starts real MariaDB servers (Debian's mariadb-server)
// on a temporary data dir and a free loopback port, with the binary log in
// ROW format, for the bridge's tests and benchmarks.
package mariadbtest
