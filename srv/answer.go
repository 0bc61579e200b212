package srv

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// result says what kind of answer a query got, for the counters.
type result int

const (
	resAnswer    result = iota // records
	resNoData                  // the name exists, the type does not
	resNXDomain                // no such name
	resRefused                 // outside the zone, or a transfer not allowed
	resFormErr                 // malformed request
	resNotImp                  // an opcode or query type we do not serve
	resTruncated               // did not fit: ask again over TCP
	resDropped                 // no answer at all
	numResults
)

var resultNames = [numResults]string{"answer", "nodata", "nxdomain", "refused", "formerr", "notimp", "truncated", "dropped"}

// respond appends to dst the answer to q for a transport whose messages
// may be limit bytes long (65535 over TCP). Zone transfers are not
// answered here (see xfr.go).
func (t *table) respond(dst []byte, q *query, limit int) ([]byte, result) {
	if q.opcode() != dns.OpcodeQuery {
		return t.header(dst, q, 0, dns.RcodeNotImplemented, true), resNotImp
	}
	if q.edns && q.ednsVer > 0 {
		return t.header(dst, q, 0, dns.RcodeBadVers, true), resFormErr
	}
	if q.qclass != dns.ClassINET && q.qclass != dns.ClassANY {
		return t.header(dst, q, 0, dns.RcodeRefused, true), resRefused
	}
	var lower [255]byte
	name := q.name()
	if len(name) > len(lower) {
		return t.header(dst, q, 0, dns.RcodeFormatError, false), resFormErr
	}
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	lname := lower[:len(name)]
	if !t.inZone(lname) {
		return t.header(dst, q, 0, dns.RcodeRefused, true), resRefused
	}
	if isMetaType(q.qtype) {
		return t.header(dst, q, flagAA, dns.RcodeNotImplemented, true), resNotImp
	}
	room := limit
	if q.edns {
		room -= optLen
	}
	var key [257]byte
	n := copy(key[:], lname)
	binary.BigEndian.PutUint16(key[n:], q.qtype)
	if a := t.answers[string(key[:n+2])]; a != nil {
		v := a.pick(room)
		if v == nil {
			return t.header(dst, q, flagAA|flagTC, dns.RcodeSuccess, true), resTruncated
		}
		start := len(dst)
		dst = append(dst, v...)
		m := dst[start:]
		binary.BigEndian.PutUint16(m, q.id)
		binary.BigEndian.PutUint16(m[2:], replyFlags(q, flagAA, dns.RcodeSuccess))
		copy(m[12:], q.question[:len(name)]) // the client's letter case
		binary.BigEndian.PutUint16(m[12+len(name)+2:], q.qclass)
		return t.addOPT(dst, start, q, 0), resAnswer
	}
	rcode, res := dns.RcodeSuccess, resNoData
	if !t.names[string(lname)] {
		rcode, res = dns.RcodeNameError, resNXDomain
	}
	// A negative answer carries the SOA, whose minimum tells how long to
	// remember it (RFC 2308).
	start := len(dst)
	dst = base(dst, q, flagAA, rcode, true)
	binary.BigEndian.PutUint16(dst[start+8:], 1)
	dst = append(dst, t.soaRR...)
	return t.addOPT(dst, start, q, 0), res
}

// header appends an answer with no records: the header and, when
// withQuestion, the question; and the OPT when the request had one.
func (t *table) header(dst []byte, q *query, aa uint16, rcode int, withQuestion bool) []byte {
	start := len(dst)
	dst = base(dst, q, aa, rcode, withQuestion)
	return t.addOPT(dst, start, q, uint8(rcode>>4))
}

// base appends a header and, when withQuestion, the question.
func base(dst []byte, q *query, aa uint16, rcode int, withQuestion bool) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 12)...)
	m := dst[start:]
	binary.BigEndian.PutUint16(m, q.id)
	binary.BigEndian.PutUint16(m[2:], replyFlags(q, aa, rcode))
	if withQuestion && q.question != nil {
		binary.BigEndian.PutUint16(m[4:], 1)
		dst = append(dst, q.question...)
	}
	return dst
}

// replyFlags are the answer's flags: QR, the request's opcode, RD and CD,
// and the given AA, TC and the low bits of rcode.
func replyFlags(q *query, set uint16, rcode int) uint16 {
	return flagQR | q.flags&(0x7800|flagRD|flagCD) | set | uint16(rcode&0xF)
}

// addOPT appends, when the request had one, the OPT record: our UDP size,
// the extended rcode, version 0, the DO bit copied (RFC 3225), no options;
// and counts it.
func (t *table) addOPT(dst []byte, start int, q *query, extRcode uint8) []byte {
	if !q.edns {
		return dst
	}
	size := uint16(t.maxUDP)
	var do byte
	if q.do {
		do = 0x80
	}
	dst = append(dst, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT), byte(size>>8), byte(size), extRcode, 0, do, 0, 0, 0)
	ar := binary.BigEndian.Uint16(dst[start+10:])
	binary.BigEndian.PutUint16(dst[start+10:], ar+1)
	return dst
}

// inZone reports whether a lower-case wire name is the origin or below it.
func (t *table) inZone(name []byte) bool {
	for off := 0; off < len(name); off += int(name[off]) + 1 {
		if len(name)-off == len(t.origin) {
			return string(name[off:]) == string(t.origin)
		}
		if len(name)-off < len(t.origin) || name[off] == 0 {
			return false
		}
	}
	return false
}

// isMetaType reports query types that are not data: OPT, TKEY, TSIG,
// MAILA, MAILB, and the transfers, which only TCP serves.
func isMetaType(t uint16) bool {
	switch t {
	case dns.TypeOPT, dns.TypeTKEY, dns.TypeTSIG, dns.TypeMAILA, dns.TypeMAILB, dns.TypeAXFR, dns.TypeIXFR:
		return true
	}
	return false
}

// formErr appends the answer to a request that could not be parsed: its
// ID and opcode with FORMERR, nothing else.
func (t *table) formErr(dst []byte, req []byte) []byte {
	q := query{id: binary.BigEndian.Uint16(req), flags: binary.BigEndian.Uint16(req[2:])}
	return t.header(dst, &q, 0, dns.RcodeFormatError, false)
}
