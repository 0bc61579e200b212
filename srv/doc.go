// Package srv is the authoritative DNS server of the voice zone: the
// records with which phones find their cluster and fail over to the next
// one (RFC 3263 NAPTR → RFC 2782 SRV → A/AAAA).
//
// For every cluster C of the enterprise it answers _sip._udp.C, _sip._tcp.C
// and _sips._tcp.C SRV (C's voice VIP first, then C's failover clusters at
// higher priority numbers), NAPTR at C, A/AAAA at C (the VIP), and SOA and
// NS at the apex. Clusters a Health view reports down leave the SRV
// answers, unless every cluster of a list is down: then the list stays
// whole, since an empty answer helps no phone.
//
// Answers are compiled to wire format whenever the clusters or their health
// change, never per query: a query is parsed in place, looked up in a map
// and answered with a copy of prepared bytes. The SOA serial rises with
// every change of the answers and only then; AXFR (and IXFR answered with
// the whole zone) to an allow list and NOTIFY let corporate DNS servers be
// secondaries. Health comes from a Checker that combines cluster membership
// with what the agents report of their Asterisk over AMI and a SIP OPTIONS
// probe of each voice VIP (DESIGN.md §14), under the hold-down rule
// (holddown.go): a node that suddenly loses most clusters keeps its last
// good view for a while.
package srv
