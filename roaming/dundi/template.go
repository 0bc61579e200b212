package dundi

import (
	"fmt"
	"strings"
)

// Mapping is a checked MappingConfig.
type Mapping struct {
	Context   string
	Tech      Tech
	Dest      Template
	Weight    int
	Flags     Flags // answer flags the options add (residential...)
	NoPartial bool  // answer only EXISTS, never CANMATCH/MATCHMORE
}

// ParseMappings checks the mappings of a Config.
func ParseMappings(ms []MappingConfig) ([]Mapping, error) {
	var out []Mapping
	for i, m := range ms {
		mp, err := parseMapping(m)
		if err != nil {
			return nil, fmt.Errorf("%w: dundi.mappings[%d]: %v", ErrConfig, i, err)
		}
		out = append(out, mp)
	}
	return out, nil
}

func parseMapping(m MappingConfig) (Mapping, error) {
	var mp Mapping
	if strings.TrimSpace(m.Context) == "" {
		return mp, fmt.Errorf("context is empty: give the DUNDi context, e.g. priv")
	}
	mp.Context = strings.TrimSpace(m.Context)
	tech, err := ParseTech(m.Tech)
	if err != nil {
		return mp, err
	}
	mp.Tech = tech
	if mp.Dest, err = ParseTemplate(m.Destination); err != nil {
		return mp, err
	}
	if m.Weight < 0 || m.Weight > MaxWeight {
		return mp, fmt.Errorf("weight %d: use 0 to %d", m.Weight, MaxWeight)
	}
	mp.Weight = m.Weight
	for _, o := range m.Options {
		switch strings.ToLower(strings.TrimSpace(o)) {
		case "nopartial":
			mp.NoPartial = true
		case "residential":
			mp.Flags |= FlagResidential
		case "commercial":
			mp.Flags |= FlagCommercial
		case "mobile":
			mp.Flags |= FlagMobile
		case "nounsolicited":
			mp.Flags |= FlagNoUnsolicited
		case "nocomunsolicit":
			mp.Flags |= FlagNoComUnsolicit
		default:
			return mp, fmt.Errorf("unknown option %q: use nopartial, residential, commercial, mobile, nounsolicited or nocomunsolicit", o)
		}
	}
	return mp, nil
}

// Template is a destination with ${VAR} references, checked once.
type Template struct {
	parts []tmplPart
	src   string
}

type tmplPart struct {
	lit string
	v   string // variable name, or "" for a literal
}

// TemplateVars are the variables a destination template may use.
var TemplateVars = []string{"NUMBER", "IPADDR", "SECRET", "EID", "CLUSTER"}

// ParseTemplate checks a destination template: every ${...} must name one
// of TemplateVars.
func ParseTemplate(s string) (Template, error) {
	t := Template{src: s}
	if strings.TrimSpace(s) == "" {
		return t, fmt.Errorf("destination is empty: give a template such as priv:${SECRET}@${IPADDR}/${NUMBER}")
	}
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return t, fmt.Errorf("destination %q: ${ without a closing }", s)
		}
		name := rest[i+2 : i+j]
		known := false
		for _, v := range TemplateVars {
			known = known || v == name
		}
		if !known {
			return t, fmt.Errorf("destination %q: unknown variable ${%s}: use %s", s, name, "${"+strings.Join(TemplateVars, "}, ${")+"}")
		}
		t.parts = append(t.parts, tmplPart{lit: rest[:i]}, tmplPart{v: name})
		rest = rest[i+j+1:]
	}
	return t, nil
}

// String returns the template's source.
func (t Template) String() string { return t.src }

// Expand fills the template; vars is called for each variable.
func (t Template) Expand(vars func(name string) string) string {
	var b strings.Builder
	b.Grow(len(t.src) + 32) // one allocation for the usual destination
	for _, p := range t.parts {
		if p.v == "" {
			b.WriteString(p.lit)
		} else {
			b.WriteString(vars(p.v))
		}
	}
	return b.String()
}
