package dundi

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// IEType is the type byte of an information element.
type IEType byte

// The information elements (include/asterisk/dundi.h).
const (
	IEEID           IEType = 1  // entity id in the EID stack
	IECalledContext IEType = 2  // DUNDi context (string)
	IECalledNumber  IEType = 3  // number (string)
	IEEIDDirect     IEType = 4  // entity id in the stack, directly connected
	IEAnswer        IEType = 5  // an answer
	IETTL           IEType = 6  // hops left (short)
	IEVersion       IEType = 10 // protocol version, 1 (short)
	IEExpiration    IEType = 11 // seconds an answer may be cached (short)
	IEUnknown       IEType = 12 // the unknown command (byte)
	IECause         IEType = 14 // cause code and text
	IEReqEID        IEType = 15 // the EID asked for by EIDQUERY
	IEEncData       IEType = 16 // IV + AES-128-CBC data, to the end of the packet
	IESharedKey     IEType = 17 // the session key, RSA-OAEP to the receiver (128 bytes)
	IESignature     IEType = 18 // RSA signature of the shared key (128 bytes)
	IEKeyCRC32      IEType = 19 // CRC-32 of the shared key already sent (int)
	IEHint          IEType = 20 // answer hints
	IEDepartment    IEType = 21
	IEOrganization  IEType = 22
	IELocality      IEType = 23
	IEStateProv     IEType = 24
	IECountry       IEType = 25
	IEEmail         IEType = 26
	IEPhone         IEType = 27
	IEIPAddr        IEType = 28
	IECacheBypass   IEType = 29 // bypass caches (empty)
	IEPeerStatus    IEType = 30
)

var ieNames = map[IEType]string{
	IEEID: "ENTITY IDENT", IECalledContext: "CALLED CONTEXT", IECalledNumber: "CALLED NUMBER",
	IEEIDDirect: "DIRECT EID", IEAnswer: "ANSWER", IETTL: "TTL", IEVersion: "VERSION",
	IEExpiration: "EXPIRATION", IEUnknown: "UKWN DUNDI CMD", IECause: "CAUSE", IEReqEID: "REQUEST EID",
	IEEncData: "ENCDATA", IESharedKey: "SHAREDKEY", IESignature: "SIGNATURE", IEKeyCRC32: "KEYCRC32",
	IEHint: "HINT", IEDepartment: "DEPARTMENT", IEOrganization: "ORGANIZTN", IELocality: "LOCALITY",
	IEStateProv: "STATEPROV", IECountry: "COUNTRY", IEEmail: "EMAIL", IEPhone: "PHONE",
	IEIPAddr: "ADDRESS", IECacheBypass: "CBYPASS",
}

// String names the element as Asterisk's debug output does.
func (t IEType) String() string {
	if n, ok := ieNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Unknown IE %03d", byte(t))
}

// Limits of Asterisk's parser (dundi-parser.h).
const (
	maxStack   = 512 // EIDs in the stack
	maxAnswers = 100 // answers in one response
	rsaBytes   = 128 // SHAREDKEY and SIGNATURE: one 1024-bit RSA block
)

// Hint flags.
const (
	HintTTLExpired uint16 = 1 << 0 // the TTL ran out before every peer was asked
	HintDontAsk    uint16 = 1 << 1 // don't ask for anything beginning with the hint's data
	HintUnaffected uint16 = 1 << 2 // the answer does not depend on the EID stack
)

// Causes of a failed request.
const (
	CauseSuccess    = 0
	CauseGeneral    = 1
	CauseDynamic    = 2
	CauseNoAuth     = 3
	CauseDuplicate  = 4
	CauseTTLExpired = 5
	CauseNeedKey    = 6
	CauseBadEncrypt = 7
)

var causeNames = []string{"SUCCESS", "GENERAL", "DYNAMIC", "NOAUTH", "DUPLICATE", "TTLEXPIRED", "NEEDKEY", "BADENCRYPT"}

// CauseName names a cause code.
func CauseName(c int) string {
	if c >= 0 && c < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("cause %d", c)
}

// Hint is the HINT element: flags and, with DONTASK, the prefix not to ask for.
type Hint struct {
	Flags uint16
	Data  string
}

// EntityInfo is what EIDQUERY returns about an entity.
type EntityInfo struct {
	Department   string `json:"department,omitempty" mapstructure:"department"`
	Organization string `json:"organization,omitempty" mapstructure:"organization"`
	Locality     string `json:"locality,omitempty" mapstructure:"locality"`
	StateProv    string `json:"stateprov,omitempty" mapstructure:"stateprov"`
	Country      string `json:"country,omitempty" mapstructure:"country"`
	Email        string `json:"email,omitempty" mapstructure:"email"`
	Phone        string `json:"phone,omitempty" mapstructure:"phone"`
	IPAddr       string `json:"ipaddr,omitempty" mapstructure:"ipaddr"`
}

// Message is the typed view of a frame's elements, as Asterisk's
// dundi_parse_ies builds it. Absent numbers are -1.
type Message struct {
	EIDs          []EID  // the EID stack, the querier first
	Direct        []bool // per EID: sent as EID_DIRECT
	ReqEID        *EID
	CalledContext string
	CalledNumber  string
	HasNumber     bool
	Answers       []Answer
	Hint          *Hint
	TTL           int
	Version       int
	Expiration    int
	UnknownCmd    int
	Cause         int
	CauseText     string
	SharedKey     []byte
	Signature     []byte
	KeyCRC32      uint32
	HasKeyCRC32   bool
	EncData       []byte // IV + ciphertext
	CacheBypass   bool
	Entity        *EntityInfo // EIDRESPONSE's elements, when present

	// The first EIDs of the stack, where EIDs and Direct start, so the
	// usual query costs no allocation of its own for them.
	stack  [4]EID
	direct [4]bool
}

// cstr returns the element as Asterisk reads it: a C string that ends at
// the first NUL.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// ParseMessage checks and decodes the elements of f. An element with the
// wrong size is an error (Asterisk logs and skips it; a peer that sends
// one is broken or hostile, and we drop the packet). Unknown elements are
// ignored.
func ParseMessage(f *Frame) (*Message, error) {
	m := &Message{}
	if err := m.parse(f); err != nil {
		return nil, err
	}
	return m, nil
}

// parse fills m, a zero Message, from f's elements.
func (m *Message) parse(f *Frame) error {
	m.TTL, m.Expiration, m.UnknownCmd, m.Cause = -1, -1, -1, -1
	bad := func(ie IE, want string) error {
		return fmt.Errorf("%w: element %s is %d bytes, want %s", ErrMalformed, ie.Type, len(ie.Data), want)
	}
	short := func(ie IE) (int, error) {
		if len(ie.Data) != 2 {
			return 0, bad(ie, "2")
		}
		return int(binary.BigEndian.Uint16(ie.Data)), nil
	}
	var err error
	for _, ie := range f.IEs {
		d := ie.Data
		switch ie.Type {
		case IEEID, IEEIDDirect:
			if len(d) != 6 {
				return bad(ie, "6")
			}
			if len(m.EIDs) >= maxStack {
				return fmt.Errorf("%w: more than %d entities in the EID stack", ErrMalformed, maxStack)
			}
			if m.EIDs == nil {
				m.EIDs, m.Direct = m.stack[:0], m.direct[:0]
			}
			m.EIDs = append(m.EIDs, EID(d))
			m.Direct = append(m.Direct, ie.Type == IEEIDDirect)
		case IEReqEID:
			if len(d) != 6 {
				return bad(ie, "6")
			}
			e := EID(d)
			m.ReqEID = &e
		case IECalledContext:
			m.CalledContext = cstr(d)
		case IECalledNumber:
			m.CalledNumber, m.HasNumber = cstr(d), true
		case IEAnswer:
			if len(d) < 11 {
				return bad(ie, "at least 11")
			}
			if len(m.Answers) >= maxAnswers {
				return fmt.Errorf("%w: more than %d answers", ErrMalformed, maxAnswers)
			}
			m.Answers = append(m.Answers, Answer{EID: EID(d[0:6]), Tech: Tech(d[6]),
				Flags: Flags(binary.BigEndian.Uint16(d[7:])), Weight: int(binary.BigEndian.Uint16(d[9:])), Dest: cstr(d[11:])})
		case IETTL:
			if m.TTL, err = short(ie); err != nil {
				return err
			}
		case IEVersion:
			if m.Version, err = short(ie); err != nil {
				return err
			}
		case IEExpiration:
			if m.Expiration, err = short(ie); err != nil {
				return err
			}
		case IEKeyCRC32:
			if len(d) != 4 {
				return bad(ie, "4")
			}
			m.KeyCRC32, m.HasKeyCRC32 = binary.BigEndian.Uint32(d), true
		case IEUnknown:
			if len(d) != 1 {
				return bad(ie, "1")
			}
			m.UnknownCmd = int(d[0])
		case IECause:
			if len(d) < 1 {
				return bad(ie, "at least 1")
			}
			m.Cause, m.CauseText = int(d[0]), cstr(d[1:])
		case IEHint:
			if len(d) < 2 {
				return bad(ie, "at least 2")
			}
			m.Hint = &Hint{Flags: binary.BigEndian.Uint16(d), Data: cstr(d[2:])}
		case IEDepartment:
			m.entity().Department = cstr(d)
		case IEOrganization:
			m.entity().Organization = cstr(d)
		case IELocality:
			m.entity().Locality = cstr(d)
		case IEStateProv:
			m.entity().StateProv = cstr(d)
		case IECountry:
			m.entity().Country = cstr(d)
		case IEEmail:
			m.entity().Email = cstr(d)
		case IEPhone:
			m.entity().Phone = cstr(d)
		case IEIPAddr:
			m.entity().IPAddr = cstr(d)
		case IEEncData:
			if len(d) <= 16 || len(d)%16 != 0 {
				return bad(ie, "16 bytes of IV and a multiple of 16")
			}
			m.EncData = d
		case IESharedKey:
			if len(d) != rsaBytes {
				return bad(ie, "128")
			}
			m.SharedKey = d
		case IESignature:
			if len(d) != rsaBytes {
				return bad(ie, "128")
			}
			m.Signature = d
		case IECacheBypass:
			m.CacheBypass = true
		}
	}
	return nil
}

func (m *Message) entity() *EntityInfo {
	if m.Entity == nil {
		m.Entity = &EntityInfo{}
	}
	return m.Entity
}

// builder appends elements to a frame, with Asterisk's encodings. Element
// data lives in one growing buffer: a reallocation leaves earlier
// elements pointing at the old array, whose bytes never change.
type builder struct {
	ies []IE
	buf []byte
}

func (b *builder) raw(t IEType, d []byte) {
	start := len(b.buf)
	b.buf = append(b.buf, d...)
	b.ies = append(b.ies, IE{Type: t, Data: b.buf[start:len(b.buf):len(b.buf)]})
}

func (b *builder) str(t IEType, s string) {
	start := len(b.buf)
	b.buf = append(b.buf, s...)
	b.ies = append(b.ies, IE{Type: t, Data: b.buf[start:len(b.buf):len(b.buf)]})
}

func (b *builder) eid(t IEType, e EID)    { b.raw(t, e[:]) }
func (b *builder) empty(t IEType)         { b.raw(t, nil) }
func (b *builder) byte1(t IEType, v byte) { b.raw(t, []byte{v}) }

func (b *builder) short(t IEType, v int) {
	var d [2]byte
	binary.BigEndian.PutUint16(d[:], uint16(v))
	b.raw(t, d[:])
}

func (b *builder) int32(t IEType, v uint32) {
	var d [4]byte
	binary.BigEndian.PutUint32(d[:], v)
	b.raw(t, d[:])
}

func (b *builder) cause(code int, text string) {
	start := len(b.buf)
	b.buf = append(append(b.buf, byte(code)), text...)
	b.ies = append(b.ies, IE{Type: IECause, Data: b.buf[start:len(b.buf):len(b.buf)]})
}

func (b *builder) hint(h Hint) {
	start := len(b.buf)
	b.buf = append(binary.BigEndian.AppendUint16(b.buf, h.Flags), h.Data...)
	b.ies = append(b.ies, IE{Type: IEHint, Data: b.buf[start:len(b.buf):len(b.buf)]})
}

func (b *builder) answer(a Answer) {
	start := len(b.buf)
	d := append(b.buf, a.EID[:]...)
	d = append(d, byte(a.Tech))
	d = binary.BigEndian.AppendUint16(d, uint16(a.Flags))
	d = binary.BigEndian.AppendUint16(d, uint16(a.Weight))
	b.buf = append(d, a.Dest...)
	b.ies = append(b.ies, IE{Type: IEAnswer, Data: b.buf[start:len(b.buf):len(b.buf)]})
}
