// Package dundi is a DUNDi peer (Distributed Universal Number Discovery,
// the protocol of Asterisk's pbx_dundi and of draft-mspencer-dundi-01):
// it answers the DUNDi queries of Asterisk servers (and of other pbxtopo
// agents) from the enterprise's replicated store, and it asks any DUNDi
// peer a question the way Asterisk's "dundi lookup" does.
//
// The package is layered so each layer can be tested on its own:
//
//   - wire.go, ie.go: the 8-byte header and the information elements,
//     decoded and encoded byte for byte as Asterisk does (frames that
//     decode re-encode to the same bytes).
//   - crypto.go, keys.go: the ENCRYPT envelope (AES-128-CBC over the
//     zlib-compressed packet from byte 6 on) and the session keys (RSA-OAEP
//     to the peer's public key, signed with ours, reused by KEYCRC32).
//   - trans.go, peer.go: transactions (one message in flight, ACKs,
//     retransmission every RetransTimer up to 5 tries, final flags,
//     INVALID for unknown transactions) on one UDP socket.
//   - handle.go, query.go: answering DPDISCOVER, EIDQUERY, NULL, REGREQ
//     and PRECACHERQ; asking with DPDISCOVER.
//   - directory.go, storedir.go: where answers come from. A Directory
//     turns a number and a DUNDi context into answers; StoreDirectory does
//     it from a pbxtopo store with an index rebuilt on every change.
//
// See DESIGN.md in this directory for the decisions and their reasons.
package dundi
