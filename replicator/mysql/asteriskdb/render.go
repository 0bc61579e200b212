package asteriskdb

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	colRE     = regexp.MustCompile(`^([@A-Za-z0-9_-]+) ([a-z]+(?:\([^()]*\))?(?: unsigned)?)((?: not null| auto_increment)*)$`)
	keyRE     = regexp.MustCompile(`^(primary|unique ([A-Za-z0-9_]+)|index ([A-Za-z0-9_]+)) \(([A-Za-z0-9_,-]+)\)$`)
	foreignRE = regexp.MustCompile(`^foreign ([A-Za-z0-9_]+) \(([A-Za-z0-9_,-]+)\) ([A-Za-z0-9_]+) \(([A-Za-z0-9_,-]+)\)$`)
)

// Render turns a description (see asterisk22.tables) into CREATE TABLE
// statements, and the INSERT of its alembic version.
func Render(desc string) ([]string, error) {
	var out []string
	var table string
	var parts []string
	version := ""
	flush := func() {
		if table != "" {
			out = append(out, "CREATE TABLE "+quoteIdent(table)+" (\n    "+strings.Join(parts, ",\n    ")+"\n)")
		}
		table, parts = "", nil
	}
	for n, line := range strings.Split(desc, "\n") {
		bad := func(why string) ([]string, error) {
			return nil, fmt.Errorf("line %d %q: %s", n+1, line, why)
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		case strings.HasPrefix(line, "version "):
			version = strings.TrimPrefix(line, "version ")
			if !nameRE.MatchString(version) {
				return bad("the version must be letters and digits")
			}
		case strings.HasPrefix(line, "table "):
			flush()
			table = strings.TrimPrefix(line, "table ")
			if !nameRE.MatchString(table) {
				return bad("a table name is letters, digits and '_'")
			}
		case !strings.HasPrefix(line, "  "):
			return bad("want 'table NAME', 'version V' or an indented column or key")
		case table == "":
			return bad("a column or key before the first table")
		default:
			if m := keyRE.FindStringSubmatch(trimmed); m != nil {
				cols := quoteList(m[4])
				switch {
				case m[1] == "primary":
					parts = append(parts, "PRIMARY KEY ("+cols+")")
				case m[2] != "":
					parts = append(parts, "UNIQUE KEY "+quoteIdent(m[2])+" ("+cols+")")
				default:
					parts = append(parts, "KEY "+quoteIdent(m[3])+" ("+cols+")")
				}
				continue
			}
			if m := foreignRE.FindStringSubmatch(trimmed); m != nil {
				parts = append(parts, "CONSTRAINT "+quoteIdent(m[1])+" FOREIGN KEY ("+quoteList(m[2])+") REFERENCES "+
					quoteIdent(m[3])+" ("+quoteList(m[4])+")")
				continue
			}
			m := colRE.FindStringSubmatch(trimmed)
			if m == nil {
				return bad("want 'NAME TYPE [not null] [auto_increment]' or a key")
			}
			if strings.Count(m[2], "'")%2 != 0 {
				return bad("unbalanced quotes in the type")
			}
			def := quoteIdent(m[1]) + " " + m[2] + strings.ToUpper(m[3])
			if !strings.Contains(m[3], "not null") {
				def += " NULL"
			}
			parts = append(parts, def)
		}
	}
	flush()
	if len(out) == 0 {
		return nil, fmt.Errorf("no table")
	}
	if version != "" {
		out = append(out, "INSERT INTO `alembic_version` (`version_num`) VALUES ('"+version+"')")
	}
	return out, nil
}

func quoteIdent(s string) string { return "`" + s + "`" }

func quoteList(cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = quoteIdent(p)
	}
	return strings.Join(parts, ", ")
}
