// Package roaming reads the enterprise out of a store snapshot and answers
// the questions admins open pbxtopo for: which numbers live on several
// clusters and whether their roaming (DUNDi) mapping is right (the
// report), what is wrong with roaming and security (the audit), and what
// each cluster's Asterisk needs so that a roaming number is reachable from
// every cluster (DUNDi publishing).
//
// Everything is a pure function of an *Enterprise, which Load builds from
// one *store.Snapshot in a single pass over each table; the Publisher is
// the one long-running part (it rewrites a cluster's DUNDi files when the
// store changes). Secrets never leave Load: it applies the secret rules
// while it reads and keeps only the name of the rule a secret breaks.
package roaming
