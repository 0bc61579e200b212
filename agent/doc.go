// Package agent is the composition root of pbxtopo: the Service that every
// front end (CLI, HTTP API, web pages) calls, and the agent process that
// owns the store, replication, DNS and the HTTP server.
package agent
