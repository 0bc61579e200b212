// Package asteriskdb creates Asterisk 22's own realtime tables in a MySQL
// or MariaDB database, for the bridge's tests, the benchmarks and the
// demo: every table, column and key of contrib/realtime/mysql/mysql_config.sql
// (asterisk/asterisk, tag 22.8.0), untrimmed.
//
// The file itself is Asterisk's (GPLv2) and is not part of this
// repository. When it is at hand (PBXTOPO_ASTERISK_SCHEMA, or
// mysql_config.sql beside the project's Asterisk in ../shared/asterisk)
// its statements run as they are; otherwise the tables are made from
// asterisk22.tables, this package's description of what that file leaves
// in the database, which a test compares with the file whenever both are
// there.
package asteriskdb
