// Package replicator moves changes between the clusters of an enterprise.
// Each cluster is one replica; its replicator pulls what it lacks from the
// peers the topology names (ring, mesh, primary or site mode: topology.go),
// serves pulls of its own log (server.go), catches a peer up with a
// snapshot when it fell behind the retained log, writes watermarks and
// collects tombstones every replica has seen (gc.go), and compares digests
// for verify. The transport is HTTP/2 with mutual TLS (http.go); who is in
// the enterprise comes from Serf gossip (serf.go), confirmed by each
// member's certificate (verified.go). replicator/raftstore keeps the nodes
// of one cluster in agreement; replicator/mysql bridges Asterisk realtime
// MySQL. DESIGN.md says why it looks this way.
package replicator
