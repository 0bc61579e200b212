package asteriskdb

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pbxtopo/pbxtopo/internal/modroot"
)

// EnvVar names Asterisk's mysql_config.sql to run instead of the
// description.
const EnvVar = "PBXTOPO_ASTERISK_SCHEMA"

// sharedFile is where the project may keep Asterisk's file, relative to
// the module root.
const sharedFile = "../shared/asterisk/mysql_config.sql"

//go:embed asterisk22.tables
var description string

// Schema is the statements that create Asterisk's realtime tables.
type Schema struct {
	// Source says where they come from: the path of mysql_config.sql, or
	// "asterisk22.tables".
	Source string
	Stmts  []string
}

// Load returns Asterisk's own file when it is at hand, else the tables of
// the description.
func Load() (Schema, error) {
	path, err := File()
	if err != nil {
		return Schema{}, err
	}
	if path == "" {
		return Described()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Schema{}, err
	}
	stmts := SplitSQL(string(b))
	if len(stmts) == 0 {
		return Schema{}, fmt.Errorf("%s holds no SQL statement", path)
	}
	return Schema{Source: path, Stmts: stmts}, nil
}

// File returns the path of Asterisk's mysql_config.sql, or "" when it is
// not at hand. A file named by EnvVar must exist.
func File() (string, error) {
	if p := os.Getenv(EnvVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvVar, p, err)
		}
		return p, nil
	}
	root, err := modroot.Dir()
	if err != nil {
		return "", nil
	}
	p := filepath.Join(root, sharedFile)
	if _, err := os.Stat(p); err != nil {
		return "", nil
	}
	return p, nil
}

// Described returns the statements of the description.
func Described() (Schema, error) {
	stmts, err := Render(description)
	if err != nil {
		return Schema{}, fmt.Errorf("asterisk22.tables: %w", err)
	}
	return Schema{Source: "asterisk22.tables", Stmts: stmts}, nil
}

// Create runs the schema's statements with exec, in order.
func (s Schema) Create(exec func(stmts ...string) error) error {
	if err := exec(s.Stmts...); err != nil {
		return fmt.Errorf("create Asterisk's realtime tables from %s: %w", s.Source, err)
	}
	return nil
}

// SplitSQL cuts a SQL script into statements: it drops "--" comment lines
// and ends a statement at a ';' that closes a line outside quotes.
func SplitSQL(script string) []string {
	var out []string
	var cur strings.Builder
	quote := byte(0)
	for _, line := range strings.SplitAfter(script, "\n") {
		if quote == 0 && strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case quote != 0 && c == '\\' && quote != '`':
				cur.WriteByte(c)
				if i+1 < len(line) {
					i++
					c = line[i]
				}
			case quote != 0 && c == quote:
				quote = 0
			case quote == 0 && (c == '\'' || c == '"' || c == '`'):
				quote = c
			case quote == 0 && c == ';':
				if s := strings.TrimSpace(cur.String()); s != "" {
					out = append(out, s)
				}
				cur.Reset()
				continue
			}
			cur.WriteByte(c)
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
