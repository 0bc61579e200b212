// Package mysql is the Asterisk realtime bridge: it makes a site's
// MySQL/MariaDB realtime database a faithful local peer of the store.
//
// In: the bridge follows the server's binary log (ROW format) with
// go-mysql's replication client and turns every row insert, update and
// delete of the mapped tables into a store change at this cluster, written
// with the binlog checkpoint in the same store transaction. Without a
// usable checkpoint it starts from a consistent dump.
//
// Out: it follows the store's change feed and writes every record whose
// winner differs from what MySQL holds, as upserts and deletes, one SQL
// transaction per batch. Each of those transactions first rewrites the
// bridge's row in a marker table; the binlog reader knows such
// transactions as its own echo and only notes what MySQL now holds.
//
// A row that cannot be taken in or written out is parked with its key,
// column and fix (Status().Parked); everything else goes on.
//
// Mappings (guide, sippeers, pjsip) say which MySQL tables and columns
// feed which pbx fields; pjsip and sippeers use Asterisk's own tables
// (package asteriskdb creates them for tests). See DESIGN.md for why it
// works this way.
package mysql
