package pbx

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Network is one entry of an access list.
type Network struct {
	Prefix netip.Prefix // the network, masked
	Text   string       // as written, normalized (address/mask or CIDR)
}

// ParseNetworks parses an access list value: networks separated by commas,
// semicolons, '&' or spaces, each "address/mask" (IPv4 dotted mask),
// "address/bits" (CIDR, IPv4 or IPv6) or a bare address. On error the
// message names the network by its position, as the guide's ACL form does.
func ParseNetworks(v string) ([]Network, string) {
	items := strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ';' || r == '&' || r == ' ' || r == '\t'
	})
	out := make([]Network, 0, len(items))
	for i, it := range items {
		n, why := parseNetwork(it)
		if why != "" {
			return nil, fmt.Sprintf("network %d %q %s", i+1, it, why)
		}
		out = append(out, n)
	}
	return out, ""
}

func parseNetwork(s string) (Network, string) {
	addrText, maskText, hasMask := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrText)
	if err != nil {
		return Network{}, "is not an address or network (want 10.0.0.0/255.255.255.0 or 10.0.0.0/24)"
	}
	if addr.Zone() != "" {
		return Network{}, "has an IPv6 zone, which names one host's interface: give the network without it"
	}
	addr = addr.Unmap()
	if !hasMask {
		return Network{netip.PrefixFrom(addr, addr.BitLen()), addr.String()}, ""
	}
	if n, err := strconv.Atoi(maskText); err == nil {
		if n < 0 || n > addr.BitLen() {
			return Network{}, fmt.Sprintf("has prefix length %d, the limit is %d", n, addr.BitLen())
		}
		p := netip.PrefixFrom(addr, n).Masked()
		return Network{p, addr.String() + "/" + strconv.Itoa(n)}, ""
	}
	mask, err := netip.ParseAddr(maskText)
	if err != nil || !mask.Is4() || !addr.Is4() {
		return Network{}, "has a mask that is neither a dotted IPv4 mask nor a prefix length"
	}
	m := mask.As4()
	word := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	ones := bits.LeadingZeros32(^word)
	if ones < 32 && word<<ones != 0 {
		return Network{}, "is not a contiguous mask"
	}
	p := netip.PrefixFrom(addr, ones).Masked()
	return Network{p, addr.String() + "/" + mask.String()}, ""
}

// PermitsAll reports whether the network admits every address of its family
// (0.0.0.0/0 or ::/0): an ACL holding it protects nothing.
func (n Network) PermitsAll() bool { return n.Prefix.Bits() == 0 }
