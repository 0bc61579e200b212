// Package ami talks to the local Asterisk through its Manager Interface
// (AMI) and does two jobs with it.
//
// The collector keeps the status of every extension and trunk of its
// cluster (registration, device state, queue and agent state, voicemail
// counts, call forward) and the node's health in the store's status space:
// a full refresh by actions every few minutes and events in between,
// coalesced so that a flapping phone writes at most one entry per flush
// interval. status.go documents the key layout and the value encoding that
// the replicator ships between clusters.
//
// The applier writes generated Asterisk configuration atomically, keeps
// the previous version for back-out, reloads the module through AMI and
// reads Asterisk's log to report what the reload really did: Asterisk
// answers "reloaded successfully" even when it dropped half the file.
//
// The protocol layer (Reader, Conn, Client) is usable on its own: a Conn is
// one logged-in session that matches responses to actions by ActionID,
// gathers list responses ("EventList: start" ... "Complete"), and hands
// every other event to a handler; a Client keeps a Conn up with backoff and
// stops hammering Asterisk when its credentials are refused.
package ami
