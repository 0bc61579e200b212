package astconf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The limits and names of pbx_dundi.c.
const (
	dundiMaxTTL    = 120   // DUNDI_DEFAULT_TTL: ttl must be below it
	dundiMaxWeight = 59999 // MAX_WEIGHT
)

var dundiGeneralKeys = map[string]bool{
	"port": true, "bindaddr": true, "bindaddr2": true, "authdebug": true, "ttl": true, "autokill": true,
	"entityid": true, "tos": true, "department": true, "organization": true, "locality": true,
	"stateprov": true, "country": true, "email": true, "phone": true, "storehistory": true,
	"outgoing_sip_tech": true, "pjsip_outgoing_endpoint": true, "cachetime": true,
}

var dundiPeerKeys = map[string]bool{
	"inkey": true, "outkey": true, "port": true, "host": true, "ustothem": true, "include": true,
	"permit": true, "noinclude": true, "deny": true, "register": true, "order": true, "qualify": true,
	"model": true, "precache": true,
}

var dundiMapOptions = map[string]bool{
	"nounsolicited": true, "nocomunsolicit": true, "residential": true, "commercial": true,
	"mobile": true, "nopartial": true,
}

// dundiTechs are the technologies str2tech knows. Asterisk keeps a mapping
// with any other name (as "Unknown") without a word; we refuse it.
var dundiTechs = map[string]bool{"iax": true, "iax2": true, "sip": true, "h323": true, "pjsip": true}

const (
	modelInbound  = 1
	modelOutbound = 2
)

var dundiModels = map[string]int{"none": 0, "inbound": modelInbound, "outbound": modelOutbound,
	"symmetric": modelInbound | modelOutbound}

// CheckDUNDi checks a parsed dundi.conf against what pbx_dundi.c accepts:
// the [general] keys, every [mappings] line and every peer section. It
// also reports what Asterisk accepts silently but cannot have meant (an
// unknown key or technology, two sections for one peer).
func CheckDUNDi(c *Config) []Problem {
	var ps []Problem
	add := func(file string, line int, format string, args ...any) {
		ps = append(ps, Problem{file, line, fmt.Sprintf(format, args...)})
	}
	if g := c.Section("general"); g != nil {
		for _, v := range g.Vars {
			checkDUNDiGeneral(v, add)
		}
	}
	m := c.Section("mappings")
	if m == nil {
		add("dundi.conf", 0, "no [mappings] section: DUNDi answers no lookup without one")
	} else {
		for _, v := range m.Vars {
			checkMapping(v, add)
		}
	}
	seen := map[string]int{}
	for _, s := range c.Sections {
		switch {
		case strings.EqualFold(s.Name, "general"), strings.EqualFold(s.Name, "mappings"), s.Template:
			continue
		case s.Name == "*":
		default:
			eid, ok := ParseEID(s.Name)
			if !ok {
				add(s.File, s.Line, "[%s] is not an entity id (want six hex bytes, e.g. 02:00:00:00:00:0a): Asterisk ignores the section", s.Name)
				continue
			}
			if first, dup := seen[eid]; dup {
				add(s.File, s.Line, "peer %s is defined twice (first at line %d): the later section replaces the first", eid, first)
			}
			seen[eid] = s.Line
		}
		checkPeer(s, add)
	}
	return ps
}

type addFunc func(file string, line int, format string, args ...any)

func checkDUNDiGeneral(v Var, add addFunc) {
	name := strings.ToLower(v.Name)
	if !dundiGeneralKeys[name] {
		add(v.File, v.Line, "unknown [general] key %q: Asterisk ignores it without a word", v.Name)
		return
	}
	switch name {
	case "port":
		if n, err := strconv.Atoi(v.Value); err != nil || n < 1 || n > 65535 {
			add(v.File, v.Line, "port %q is not a port number", v.Value)
		}
	case "ttl":
		if n, ok := scanInt(v.Value); !ok || n < 1 || n >= dundiMaxTTL {
			add(v.File, v.Line, "'%s' is not a valid TTL, must be number from 1 to %d", v.Value, dundiMaxTTL-1)
		}
	case "autokill":
		if n, ok := scanInt(v.Value); ok && n < 0 {
			add(v.File, v.Line, "autokill has to be >0 or 'yes' or 'no'")
		}
	case "entityid":
		if _, ok := ParseEID(v.Value); !ok {
			add(v.File, v.Line, "invalid global endpoint identifier '%s'", v.Value)
		}
	case "outgoing_sip_tech":
		if t := strings.ToLower(v.Value); t != "sip" && t != "pjsip" {
			add(v.File, v.Line, "outgoing_sip_tech must be SIP or PJSIP")
		}
	case "cachetime":
		if _, ok := scanInt(v.Value); !ok {
			add(v.File, v.Line, "'%s' is not a valid cache time", v.Value)
		}
	case "bindaddr", "bindaddr2":
		if _, err := netip.ParseAddr(v.Value); err != nil {
			add(v.File, v.Line, "invalid host/IP '%s'", v.Value)
		}
	}
}

// checkMapping follows build_mapping: "dcontext => lcontext,weight,tech,dest[,options]".
func checkMapping(v Var, add addFunc) {
	fields := strings.Split(v.Value, ",")
	if len(fields) == 1 && fields[0] == "" {
		return // a placeholder mapping
	}
	if len(fields) < 4 {
		add(v.File, v.Line, "expected at least 4 arguments in map, but got only %d (want context,weight,tech,destination)", len(fields))
		return
	}
	where := v.Name + "/" + fields[0]
	weight := fields[1]
	if n, ok := scanInt(weight); ok {
		if n < 0 || n > dundiMaxWeight {
			add(v.File, v.Line, "invalid weight '%s' specified, deleting entry '%s' (0 to %d)", weight, where, dundiMaxWeight)
		}
	} else if !(strings.HasPrefix(weight, "${") && strings.HasSuffix(weight, "}")) {
		add(v.File, v.Line, "invalid weight '%s' specified, deleting entry '%s'", weight, where)
	}
	if !dundiTechs[strings.ToLower(fields[2])] {
		add(v.File, v.Line, "unknown technology %q in mapping '%s' (use IAX2, SIP, PJSIP or H323): Asterisk keeps it as Unknown and cannot dial it", fields[2], where)
	}
	if fields[3] == "" {
		add(v.File, v.Line, "mapping '%s' has an empty destination", where)
	}
	for _, o := range fields[4:] {
		if !dundiMapOptions[strings.ToLower(o)] {
			add(v.File, v.Line, "don't know anything about option '%s'", o)
		}
	}
}

// checkPeer follows build_peer.
func checkPeer(s *Section, add addFunc) {
	model, pcmodel := 0, 0
	var include, permit bool
	for _, v := range s.Vars {
		name := strings.ToLower(v.Name)
		if !dundiPeerKeys[name] {
			add(v.File, v.Line, "unknown peer key %q in [%s]: Asterisk ignores it without a word", v.Name, s.Name)
			continue
		}
		switch name {
		case "port":
			if n, err := strconv.Atoi(v.Value); err != nil || n < 1 || n > 65535 {
				add(v.File, v.Line, "port %q is not a port number", v.Value)
			}
		case "host":
			if _, err := netip.ParseAddr(v.Value); err != nil && !strings.EqualFold(v.Value, "dynamic") {
				add(v.File, v.Line, "host '%s' is not an address: Asterisk resolves a name once, when it loads the file, and drops the peer if that fails; use the peer's address", v.Value)
			}
		case "ustothem":
			if _, ok := ParseEID(v.Value); !ok {
				add(v.File, v.Line, "'%s' is not a valid DUNDi Entity Identifier", v.Value)
			}
		case "include":
			include = true
		case "permit":
			permit = true
		case "order":
			switch strings.ToLower(v.Value) {
			case "primary", "secondary", "tertiary", "quartiary":
			default:
				add(v.File, v.Line, "'%s' is not a valid order, should be primary, secondary, tertiary or quartiary", v.Value)
			}
		case "qualify":
			if l := strings.ToLower(v.Value); l != "yes" && l != "no" {
				if _, ok := scanInt(v.Value); !ok {
					add(v.File, v.Line, "qualify should be 'yes', 'no', or a number of milliseconds")
				}
			}
		case "model", "precache":
			m, ok := dundiModels[strings.ToLower(v.Value)]
			if !ok {
				add(v.File, v.Line, "unknown %s '%s', should be 'none', 'outbound', 'inbound', or 'symmetric'", name, v.Value)
				continue
			}
			if name == "model" {
				model = m
			} else {
				pcmodel = m
			}
		case "inkey", "outkey":
			if v.Value == "" || strings.ContainsAny(v.Value, "/ ") {
				add(v.File, v.Line, "%s %q is not a key name (a file name in the keys directory, without .pub or .key)", name, v.Value)
			}
		}
	}
	switch {
	case model == 0 && pcmodel == 0:
		add(s.File, s.Line, "peer '%s' lacks a model or pcmodel, discarding (add model = symmetric)", s.Name)
	case model&modelInbound != 0 && pcmodel&modelOutbound != 0:
		add(s.File, s.Line, "peer '%s' may not be both inbound/symmetric model and outbound/symmetric precache model, discarding", s.Name)
	case model&modelOutbound != 0 && pcmodel&modelInbound != 0:
		add(s.File, s.Line, "peer '%s' may not be both outbound/symmetric model and inbound/symmetric precache model, discarding", s.Name)
	case include && model&modelOutbound == 0 && pcmodel&modelInbound == 0:
		add(s.File, s.Line, "peer '%s' is supposed to be included in outbound searches but isn't an outbound peer or inbound precache", s.Name)
	case permit && model&modelInbound == 0 && pcmodel&modelOutbound == 0:
		add(s.File, s.Line, "peer '%s' is supposed to have permission for some inbound searches but isn't an inbound peer or outbound precache", s.Name)
	}
}

// ParseEID parses an entity id as ast_str_to_eid does (six colon-separated
// hex bytes) and returns it in canonical form (lower case, two digits).
func ParseEID(s string) (string, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return "", false
	}
	var b strings.Builder
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) == 0 || len(p) > 2 {
			return "", false
		}
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x", n)
	}
	return b.String(), true
}

// scanInt reads a leading decimal integer as sscanf("%d") does.
func scanInt(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' && end-digits < 10 {
		end++
	}
	if end == digits {
		return 0, false
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}
