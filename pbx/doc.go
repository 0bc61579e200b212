// Package pbx is the enterprise model of pbxtopo: the tables of the cluster
// manager guide (extensions with the 66 fields of §4.0.4, trunks, access
// lists, business hours, hot desks, groups, clusters, sites), their
// validation with messages a NOC operator can act on, CSV and JSON encoding,
// and batch creation from templates.
//
// A record is a Fields value (column name → string). Each table's Table
// value describes its columns; Check normalizes and validates a record,
// Resolve checks what it refers to. The package does no I/O.
package pbx
