package dundi

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// SortResults orders results by weight, as Asterisk's lookup does
// (stable, so equal weights keep the order they came in).
func SortResults(rs []Result) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Weight < rs[j].Weight })
}

// PrintResults writes results the way Asterisk's "dundi lookup" prints
// them, ending with the time the lookup took.
func PrintResults(w io.Writer, rs []Result, took time.Duration) error {
	var b strings.Builder
	if len(rs) == 0 {
		b.WriteString("DUNDi lookup returned no results.\n")
	}
	for i, r := range rs {
		fmt.Fprintf(&b, "%3d. %5d %s/%s (%s)\n", i+1, r.Weight, r.Tech, r.Dest, r.Flags)
		fmt.Fprintf(&b, "     from %s, expires in %d s\n", r.EID, r.Expiration)
	}
	fmt.Fprintf(&b, "DUNDi lookup completed in %d ms\n", took.Milliseconds())
	_, err := io.WriteString(w, b.String())
	return err
}

// Dump writes a frame the way Asterisk's "dundi set debug on" shows it:
// dir is "Tx", "Rx", "    ETx" or "    Erx" (the inner frame of an
// ENCRYPT). It is for debug logs and for comparing with Asterisk's own.
func Dump(w io.Writer, dir string, f *Frame, addr netip.AddrPort) {
	kind := "Command"
	if f.Cmd.IsResponse() {
		kind = "Response"
	}
	name := f.Cmd.String()
	fmt.Fprintf(w, "%s-Frame -- OSeqno: %03d ISeqno: %03d Type: %-12s (%s)\n", dir, f.OSeqno, f.ISeqno, name, kind)
	inner := strings.HasPrefix(dir, " ")
	pad := ""
	if inner {
		pad = "     "
	}
	final := ""
	if f.Final {
		final = " (Final)"
	}
	fmt.Fprintf(w, "%s     Flags: %02x STrans: %05d  DTrans: %05d [%s]%s\n", pad, f.Flags, f.Src(), f.Dst(), addr, final)
	for _, ie := range f.IEs {
		fmt.Fprintf(w, "   %s%-15.15s : %s\n", pad, ie.Type, dumpIE(ie))
	}
	if len(f.IEs) > 0 {
		fmt.Fprintln(w)
	}
}

func dumpIE(ie IE) string {
	d := ie.Data
	m, err := ParseMessage(&Frame{IEs: []IE{ie}})
	if err != nil {
		return "<invalid contents>"
	}
	switch ie.Type {
	case IEEID, IEEIDDirect, IEReqEID:
		return EID(d).String()
	case IETTL, IEVersion, IEExpiration:
		return fmt.Sprint(uint16(d[0])<<8 | uint16(d[1]))
	case IEKeyCRC32:
		return fmt.Sprint(m.KeyCRC32)
	case IEUnknown:
		return fmt.Sprint(d[0])
	case IECause:
		if m.CauseText == "" {
			return CauseName(m.Cause)
		}
		return CauseName(m.Cause) + ": " + m.CauseText
	case IEHint:
		if m.Hint.Data == "" {
			return "[" + HintString(m.Hint.Flags) + "]"
		}
		return "[" + HintString(m.Hint.Flags) + "] " + m.Hint.Data
	case IEAnswer:
		a := m.Answers[0]
		proto := a.Tech.String()
		if a.Tech == TechIAX2 {
			proto = "IAX" // Asterisk's debug says IAX, its lookup says IAX2
		}
		return fmt.Sprintf("[%s] %d <%s/%s> from [%s]", a.Flags, a.Weight, proto, a.Dest, a.EID)
	case IEEncData:
		return fmt.Sprintf("[IV %x] %d encrypted blocks", d[:16], len(d)/16)
	case IESharedKey, IESignature:
		return fmt.Sprintf("[ % x ]", d)
	case IECacheBypass:
		return "Bypass Caches"
	case IECalledContext, IECalledNumber, IEDepartment, IEOrganization, IELocality, IEStateProv,
		IECountry, IEEmail, IEPhone, IEIPAddr:
		return cstr(d)
	}
	if len(d) == 0 {
		return "Present"
	}
	return fmt.Sprintf("%d bytes", len(d))
}
