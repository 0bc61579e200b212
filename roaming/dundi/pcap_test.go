package dundi

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"
)

// udpPacket is one UDP datagram of a capture.
type udpPacket struct {
	src, dst netip.AddrPort
	payload  []byte
}

// readPcap reads the UDP/IPv4 datagrams of a classic pcap file (Ethernet
// or Linux cooked link layer). It needs no library: a 24-byte file
// header, then a 16-byte header before each frame.
func readPcap(t testing.TB, path string) []udpPacket {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := parsePcap(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pkts
}

func parsePcap(b []byte) ([]udpPacket, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("no pcap header")
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("not a classic pcap file (magic %x)", b[:4])
	}
	link := order.Uint32(b[20:])
	var out []udpPacket
	for off := 24; off+16 <= len(b); {
		incl := int(order.Uint32(b[off+8:]))
		if off+16+incl > len(b) {
			return nil, fmt.Errorf("record at %d runs past the end", off)
		}
		frame := b[off+16 : off+16+incl]
		off += 16 + incl
		var ip []byte
		switch link {
		case 1: // Ethernet
			if len(frame) < 14 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
				continue
			}
			ip = frame[14:]
		case 113: // Linux cooked
			if len(frame) < 16 || binary.BigEndian.Uint16(frame[14:]) != 0x0800 {
				continue
			}
			ip = frame[16:]
		default:
			return nil, fmt.Errorf("link type %d not supported", link)
		}
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
			continue
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total > len(ip) || ihl+8 > total {
			return nil, fmt.Errorf("bad IPv4 header")
		}
		udp := ip[ihl:total]
		ulen := int(binary.BigEndian.Uint16(udp[4:]))
		if ulen < 8 || ulen > len(udp) {
			return nil, fmt.Errorf("bad UDP length")
		}
		src, _ := netip.AddrFromSlice(ip[12:16])
		dst, _ := netip.AddrFromSlice(ip[16:20])
		out = append(out, udpPacket{
			src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:])),
			dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:])),
			payload: udp[8:ulen],
		})
	}
	return out, nil
}

// dundiPackets keeps the datagrams to or from the DUNDi ports of the captures.
func dundiPackets(t testing.TB, path string) []udpPacket {
	var out []udpPacket
	for _, p := range readPcap(t, path) {
		if p.src.Port() == 4520 || p.src.Port() == 4521 || p.dst.Port() == 4520 || p.dst.Port() == 4521 {
			out = append(out, p)
		}
	}
	return out
}
