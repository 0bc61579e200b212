package dundi

import (
	"encoding/binary"
	"fmt"
)

// Wire constants (include/asterisk/dundi.h).
const (
	// HeaderLen is the size of the fixed header.
	HeaderLen = 8
	// MaxPacket is the largest packet Asterisk sends or reads.
	MaxPacket = 8192
	// DefaultPort is the IANA port of DUNDi.
	DefaultPort = 4520
	// transMask keeps the 15-bit transaction id; the top bit is reserved.
	transMask = 0x7fff
)

// Command is the command byte without the final bit: the low 6 bits are
// the command, 0x40 marks a response.
type Command byte

// The commands. Responses carry the 0x40 bit, as in Asterisk.
const (
	CmdACK         Command = 0x40
	CmdDPDiscover  Command = 1
	CmdDPResponse  Command = 2 | 0x40
	CmdEIDQuery    Command = 3
	CmdEIDResponse Command = 4 | 0x40
	CmdPrecacheRq  Command = 5
	CmdPrecacheRp  Command = 6 | 0x40
	CmdInvalid     Command = 7 | 0x40
	CmdUnknown     Command = 8 | 0x40
	CmdNull        Command = 9
	CmdRegReq      Command = 10
	CmdRegResponse Command = 11 | 0x40
	CmdCancel      Command = 12
	CmdEncrypt     Command = 13
	CmdEncRej      Command = 14 | 0x40
)

const (
	finalBit    = 0x80
	responseBit = 0x40
)

var commandNames = [...]string{"ACK", "DPDISCOVER", "DPRESPONSE", "EIDQUERY", "EIDRESPONSE", "PRECACHERQ",
	"PRECACHERP", "INVALID", "UNKNOWN CMD", "NULL", "REGREQ", "REGRESPONSE", "CANCEL", "ENCRYPT", "ENCREJ"}

// String names the command as Asterisk's debug output does.
func (c Command) String() string {
	if i := int(c & 0x3f); i < len(commandNames) {
		return commandNames[i]
	}
	return fmt.Sprintf("(%d?)", c&0x3f)
}

// IsResponse reports whether the response bit is set.
func (c Command) IsResponse() bool { return c&responseBit != 0 }

// Header is the fixed 8-byte header. STrans and DTrans keep the wire
// value, top bit included, so a decoded frame re-encodes to its bytes.
type Header struct {
	STrans uint16  // the sender's transaction id
	DTrans uint16  // the receiver's transaction id (0 on a first packet)
	ISeqno uint8   // next sequence number the sender expects
	OSeqno uint8   // the sender's sequence number of this packet
	Cmd    Command // command or response, without the final bit
	Final  bool    // the last packet of the sender in this transaction
	Flags  uint8   // command-specific flags (always 0 in practice)
}

// Src returns the sender's 15-bit transaction id.
func (h Header) Src() uint16 { return h.STrans & transMask }

// Dst returns the receiver's 15-bit transaction id.
func (h Header) Dst() uint16 { return h.DTrans & transMask }

// cmdresp returns the command byte as on the wire.
func (h Header) cmdresp() byte {
	b := byte(h.Cmd) & 0x7f
	if h.Final {
		b |= finalBit
	}
	return b
}

func (h Header) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, h.STrans)
	b = binary.BigEndian.AppendUint16(b, h.DTrans)
	return append(b, h.ISeqno, h.OSeqno, h.cmdresp(), h.Flags)
}

func decodeHeader(b []byte) Header {
	return Header{
		STrans: binary.BigEndian.Uint16(b[0:]),
		DTrans: binary.BigEndian.Uint16(b[2:]),
		ISeqno: b[4],
		OSeqno: b[5],
		Cmd:    Command(b[6] & 0x7f),
		Final:  b[6]&finalBit != 0,
		Flags:  b[7],
	}
}

// Frame is one DUNDi packet: the header and its information elements in
// wire order.
type Frame struct {
	Header
	IEs []IE
}

// IE is one information element as on the wire.
type IE struct {
	Type IEType
	Data []byte
}

// DecodeFrame parses a packet. It checks the framing only (lengths, the
// boundary of the last element); Message checks each element's contents.
// The frame's slices alias b.
func DecodeFrame(b []byte) (*Frame, error) {
	f := &Frame{}
	if err := f.decode(b, make([]IE, 0, 8)); err != nil {
		return nil, err
	}
	return f, nil
}

// decode is DecodeFrame into f, appending the elements to ies.
func (f *Frame) decode(b []byte, ies []IE) error {
	if len(b) < HeaderLen {
		return fmt.Errorf("%w: %d bytes, the header alone is %d", ErrTruncated, len(b), HeaderLen)
	}
	if len(b) > MaxPacket {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), MaxPacket)
	}
	f.Header = decodeHeader(b)
	ies, err := decodeIEs(b[HeaderLen:], ies)
	f.IEs = ies
	return err
}

// decodeIEs splits element data, appending to ies. ENCDATA runs to the
// end of the packet whatever its length byte says (Asterisk writes that
// byte truncated).
func decodeIEs(b []byte, ies []IE) ([]IE, error) {
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return nil, fmt.Errorf("%w: a stray byte at offset %d after the last element", ErrTruncated, HeaderLen+off)
		}
		t, n := IEType(b[off]), int(b[off+1])
		if t == IEEncData {
			ies = append(ies, IE{Type: t, Data: b[off+2:]})
			break
		}
		if n > len(b)-off-2 {
			return nil, fmt.Errorf("%w: element %s at offset %d says %d bytes, %d remain", ErrTruncated, t, HeaderLen+off, n, len(b)-off-2)
		}
		ies = append(ies, IE{Type: t, Data: b[off+2 : off+2+n]})
		off += 2 + n
	}
	return ies, nil
}

// Encode appends the packet to b.
func (f *Frame) Encode(b []byte) ([]byte, error) {
	b = f.Header.appendTo(b)
	start := len(b)
	for i, ie := range f.IEs {
		if ie.Type == IEEncData {
			if i != len(f.IEs)-1 {
				return nil, fmt.Errorf("%w: ENCDATA must be the last element", ErrMalformed)
			}
			b = append(b, byte(ie.Type), byte(len(ie.Data)))
		} else {
			if len(ie.Data) > 255 {
				return nil, fmt.Errorf("%w: element %s is %d bytes, the limit is 255", ErrTooLarge, ie.Type, len(ie.Data))
			}
			b = append(b, byte(ie.Type), byte(len(ie.Data)))
		}
		b = append(b, ie.Data...)
	}
	if len(b)-start+HeaderLen > MaxPacket {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b)-start+HeaderLen, MaxPacket)
	}
	return b, nil
}

// Find returns the data of the first element of type t.
func (f *Frame) Find(t IEType) ([]byte, bool) {
	for _, ie := range f.IEs {
		if ie.Type == t {
			return ie.Data, true
		}
	}
	return nil, false
}
