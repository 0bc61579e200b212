package srv

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// query is what the server needs of a request: its header, its one
// question as received (so the answer echoes the client's letter case) and
// its EDNS0 options. It points into the request buffer.
type query struct {
	id       uint16
	flags    uint16 // the request's flags word: opcode, RD, CD are echoed
	question []byte // wire name, type and class, as received
	qtype    uint16
	qclass   uint16
	edns     bool
	udpSize  uint16
	do       bool
	ednsVer  uint8
	// IXFR: the client's serial from the authority section.
	clientSerial uint32
	hasSerial    bool
}

func (q *query) opcode() int  { return int(q.flags>>11) & 0xF }
func (q *query) name() []byte { return q.question[:len(q.question)-4] }

// Header flag bits.
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagCD = 1 << 4
)

// parseFast reads the common request in place: one question, no answer or
// authority records, at most an OPT record, nothing after it. Anything
// else (and anything malformed) returns false and takes the careful path.
func parseFast(b []byte, q *query) bool {
	if len(b) < 17 {
		return false
	}
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&flagQR != 0 || flags&0x7800 != 0 {
		return false
	}
	if binary.BigEndian.Uint16(b[4:]) != 1 || binary.BigEndian.Uint16(b[6:]) != 0 || binary.BigEndian.Uint16(b[8:]) != 0 {
		return false
	}
	ar := binary.BigEndian.Uint16(b[10:])
	if ar > 1 {
		return false
	}
	off := 12
	for {
		if off >= len(b) {
			return false
		}
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 {
			return false // a compression pointer or a reserved label type
		}
		off += l
		if off-12 > 254 {
			return false
		}
	}
	if off+4 > len(b) {
		return false
	}
	*q = query{id: binary.BigEndian.Uint16(b), flags: flags, question: b[12 : off+4],
		qtype: binary.BigEndian.Uint16(b[off:]), qclass: binary.BigEndian.Uint16(b[off+2:])}
	off += 4
	if ar == 0 {
		return off == len(b)
	}
	// The OPT record: root owner, type 41, class = UDP size, TTL = extended
	// rcode, version and flags, then options as code-length-value.
	if off+optLen > len(b) || b[off] != 0 || binary.BigEndian.Uint16(b[off+1:]) != dns.TypeOPT {
		return false
	}
	q.edns = true
	q.udpSize = binary.BigEndian.Uint16(b[off+3:])
	q.ednsVer = b[off+6]
	q.do = b[off+7]&0x80 != 0
	rdlen := int(binary.BigEndian.Uint16(b[off+9:]))
	off += optLen
	if off+rdlen != len(b) {
		return false
	}
	for end := off + rdlen; off < end; {
		if off+4 > end {
			return false
		}
		off += 4 + int(binary.BigEndian.Uint16(b[off+2:]))
		if off > end {
			return false
		}
	}
	return true
}

// parseSlow reads any request with miekg/dns. It returns the query, or
// false when the request is malformed; drop says not to answer at all (a
// response, or too short to have an ID).
func parseSlow(b []byte, q *query, scratch []byte) (ok, drop bool) {
	if len(b) < 12 {
		return false, true
	}
	*q = query{id: binary.BigEndian.Uint16(b), flags: binary.BigEndian.Uint16(b[2:])}
	if q.flags&flagQR != 0 {
		return false, true // never answer an answer: that is how loops start
	}
	var m dns.Msg
	if err := m.Unpack(b); err != nil || len(m.Question) != 1 || !questionComplete(b) {
		return false, false // miekg/dns accepts a question cut short; we do not
	}
	qn := m.Question[0]
	n, err := dns.PackDomainName(qn.Name, scratch, 0, nil, false)
	if err != nil || n+4 > len(scratch) {
		return false, false
	}
	binary.BigEndian.PutUint16(scratch[n:], qn.Qtype)
	binary.BigEndian.PutUint16(scratch[n+2:], qn.Qclass)
	q.question, q.qtype, q.qclass = scratch[:n+4], qn.Qtype, qn.Qclass
	opts := 0
	for _, rr := range m.Extra {
		if opt, isOpt := rr.(*dns.OPT); isOpt {
			if opt.Hdr.Name != "." {
				return false, false // RFC 6891 §6.1.2: the OPT belongs to the root
			}
			opts++
			q.edns, q.udpSize, q.do, q.ednsVer = true, opt.UDPSize(), opt.Do(), opt.Version()
		}
	}
	if opts > 1 {
		return false, false // RFC 6891 §6.1.1: more than one OPT is FORMERR
	}
	if q.qtype == dns.TypeIXFR {
		for _, rr := range m.Ns {
			if soa, isSOA := rr.(*dns.SOA); isSOA {
				q.clientSerial, q.hasSerial = soa.Serial, true
			}
		}
	}
	return true, false
}

// questionComplete reports whether the first question of a message has
// its whole name (labels, possibly ending in a compression pointer), type
// and class.
func questionComplete(b []byte) bool {
	off := 12
	for {
		if off >= len(b) {
			return false
		}
		l := int(b[off])
		switch {
		case l == 0:
			off++
		case l&0xC0 == 0xC0:
			off += 2
		case l > 63:
			return false
		default:
			off += 1 + l
			continue
		}
		return off+4 <= len(b)
	}
}
