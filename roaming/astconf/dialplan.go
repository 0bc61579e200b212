package astconf

import (
	"fmt"
	"strconv"
	"strings"
)

// dialplanKeys are the line kinds pbx_config.c knows inside a context.
var dialplanKeys = map[string]bool{
	"exten": true, "same": true, "include": true, "switch": true, "eswitch": true,
	"lswitch": true, "ignorepat": true,
}

// specialSections of extensions.conf are settings, not contexts.
var specialSections = map[string]bool{"general": true, "globals": true}

// CheckDialplan checks a parsed extensions.conf: every line of a context
// is an exten, same, include or switch; every exten has a name, a priority
// and an application; same follows an exten; switch names a module.
func CheckDialplan(c *Config) []Problem {
	var ps []Problem
	add := func(v Var, format string, args ...any) {
		ps = append(ps, Problem{v.File, v.Line, fmt.Sprintf(format, args...)})
	}
	for _, s := range c.Sections {
		if specialSections[strings.ToLower(s.Name)] {
			continue
		}
		if s.Name == "" || strings.ContainsAny(s.Name, " \t,") {
			ps = append(ps, Problem{s.File, s.Line, fmt.Sprintf("context name %q is not valid", s.Name)})
		}
		haveExten := false
		for _, v := range s.Vars {
			name := strings.ToLower(v.Name)
			if !dialplanKeys[name] {
				add(v, "unknown dialplan line %q in context [%s]", v.Name, s.Name)
				continue
			}
			switch name {
			case "exten":
				if msg := checkExten(v.Value, true); msg != "" {
					add(v, "exten in [%s]: %s", s.Name, msg)
				}
				haveExten = true
			case "same":
				if !haveExten {
					add(v, "same => in [%s] has no exten before it", s.Name)
				} else if msg := checkExten(v.Value, false); msg != "" {
					add(v, "same in [%s]: %s", s.Name, msg)
				}
			case "include":
				if v.Value == "" || strings.ContainsAny(v.Value, " \t") && !strings.Contains(v.Value, ",") {
					add(v, "include => in [%s] needs one context name", s.Name)
				}
			case "switch", "eswitch", "lswitch":
				mod, data, _ := strings.Cut(v.Value, "/")
				if mod == "" || data == "" {
					add(v, "switch => in [%s] wants MODULE/DATA, e.g. DUNDi/priv", s.Name)
				}
			}
		}
	}
	return ps
}

// checkExten checks "name,priority,app(args)" (withName) or
// "priority,app(args)" for same => lines.
func checkExten(v string, withName bool) string {
	parts := strings.SplitN(v, ",", 3)
	if withName {
		if len(parts) < 3 {
			return fmt.Sprintf("%q wants NUMBER,PRIORITY,APPLICATION", v)
		}
		if strings.TrimSpace(parts[0]) == "" {
			return "the extension has no name"
		}
		parts = parts[1:]
	} else {
		parts = strings.SplitN(v, ",", 2)
		if len(parts) < 2 {
			return fmt.Sprintf("%q wants PRIORITY,APPLICATION", v)
		}
	}
	prio, app := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
	if label := strings.IndexByte(prio, '('); label > 0 && strings.HasSuffix(prio, ")") {
		prio = prio[:label]
	}
	switch {
	case prio == "n", prio == "hint", prio == "s":
	case strings.HasPrefix(prio, "n+"):
		if _, err := strconv.Atoi(prio[2:]); err != nil {
			return fmt.Sprintf("priority %q is not n+NUMBER", prio)
		}
	default:
		if n, err := strconv.Atoi(prio); err != nil || n < 1 {
			return fmt.Sprintf("priority %q is not a number above 0, n or hint", prio)
		}
	}
	if app == "" {
		return "no application"
	}
	if open := strings.IndexByte(app, '('); open >= 0 && !strings.HasSuffix(app, ")") {
		return fmt.Sprintf("application %q has no closing ')'", app)
	}
	return ""
}
