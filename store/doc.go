// Package store is the local authoritative store of one replica (one
// cluster), on bbolt.
//
// Every record is addressed table/key and holds its live versions: one
// normally, several when concurrent writes made a conflict (the winner
// first). Every change carries a dot (stream and dense sequence number), a
// hybrid logical clock timestamp, its transaction, the versions it
// supersedes (its context) and its author. A change is written to its
// record, the change log, the summary and the indexes (history, conflicts,
// tombstones, digests) in one fsynced bbolt transaction; concurrent writers
// share that fsync (group commit).
//
// Apply merges changes from other replicas with the rule of DESIGN.md:
// drop what the summary covers, remove what the change supersedes, add it;
// more than one remaining version is a conflict and the winner is the
// greatest (hlc, stream, seq). ChangesSince, ReadSnapshot and MergeSnapshot
// are what replication moves between replicas. See DESIGN.md in this
// directory for why the store looks the way it does.
package store
