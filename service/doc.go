// Package service is what operators do with the enterprise's data, over
// one store: list, get, put and delete records, import and export, batch
// creation, conflicts, history and revert, roaming and audits, replication
// status and the topology, the zone, status reports. Every front end (the
// HTTP API, the web pages, the CLI offline) calls it; it checks the
// caller's role (roles.go, access.go) on every write, validates, converts
// between pbx records and store mutations, and knows nothing of HTTP:
// its errors carry a code (Error) that the front ends show.
package service
