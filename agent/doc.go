// Package agent is the composition root of pbxtopo: one agent process per
// Asterisk server, built from one Config (config.go). It opens the store,
// wires Raft, replication, membership, the DNS server, the optional parts
// (AMI, DUNDi, the MySQL bridge; components.go), the service and the HTTP
// API with its web pages, then runs them (Run), reloads what may change
// (Reload) and stops them in order. It holds no operation of its own: those
// are in package service, and the HTTP surface in package httpapi.
package agent
