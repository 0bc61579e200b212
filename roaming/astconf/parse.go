package astconf

import (
	"bytes"
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration file, at a line.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.File + ": " + p.Msg
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// Var is one "name = value" or "name => value" line.
type Var struct {
	Name   string
	Value  string
	Object bool // written with "=>"
	File   string
	Line   int
}

// Section is one [category] with its lines in order.
type Section struct {
	Name     string
	Template bool // [name](!)
	File     string
	Line     int
	Vars     []Var
}

// Config is a parsed file with everything it includes.
type Config struct {
	Sections []*Section
	// Includes lists the files named by #include and #tryinclude, in order.
	Includes []string
	// Problems are the lines Asterisk would reject, warn about or skip.
	Problems []Problem
}

// Section returns the first section with the name, as Asterisk's
// ast_variable_browse does, or nil.
func (c *Config) Section(name string) *Section {
	for _, s := range c.Sections {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// Opener returns the contents of an included file, or an error when it
// does not exist.
type Opener func(name string) ([]byte, error)

// Limits of Asterisk's loader that a checker must share.
const (
	maxLine     = 8190 // fgets into an 8192-byte buffer, with the newline
	maxNesting  = 10   // MAX_NESTED_COMMENTS
	maxIncludes = 16   // include depth; Asterisk has none, a loop would never end
)

// Parse reads one file (and what it includes, through open; nil allows
// no includes) into a Config. It never fails: every problem is recorded
// with its file and line.
func Parse(name string, data []byte, open Opener) *Config {
	p := &parser{cfg: &Config{}, open: open}
	p.file(name, data, 0)
	return p.cfg
}

type parser struct {
	cfg  *Config
	open Opener
	cur  *Section
}

func (p *parser) problem(file string, line int, format string, args ...any) {
	p.cfg.Problems = append(p.cfg.Problems, Problem{file, line, fmt.Sprintf(format, args...)})
}

func (p *parser) file(name string, data []byte, depth int) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	nested := 0 // depth of ;-- --; block comments
	for i, raw := range splitLines(data) {
		lineno := i + 1
		if len(raw) > maxLine {
			p.problem(name, lineno, "line is %d bytes, Asterisk skips lines over %d", len(raw), maxLine)
			continue
		}
		var text []byte
		text, nested = stripComments(raw, nested)
		line := strings.TrimSpace(string(text))
		if line == "" {
			continue
		}
		if !p.line(name, lineno, line, depth) {
			return // Asterisk stops reading a file at a fatal error
		}
	}
	if nested > 0 {
		p.problem(name, 0, "a ;-- block comment is not closed with --;")
	}
}

func splitLines(data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// stripComments removes comments from one line as config.c does: ';'
// starts a comment unless escaped as "\;", ";--" opens a block comment
// (they nest) and "--;" closes one.
func stripComments(line []byte, nested int) ([]byte, int) {
	var out []byte
	from := 0 // where the text after the last block comment mark starts
	for i := 0; i < len(line); i++ {
		c := line[i]
		opens := c == ';' && bytes.HasPrefix(line[i:], []byte(";--")) && !bytes.HasPrefix(line[i:], []byte(";---"))
		switch {
		case nested > 0:
			if c == ';' && i >= from+2 && line[i-1] == '-' && line[i-2] == '-' {
				nested--
				from = i + 1
			} else if opens {
				if nested < maxNesting {
					nested++
				}
				i += 2
				from = i + 1
			}
		case c == ';' && len(out) > 0 && out[len(out)-1] == '\\':
			out[len(out)-1] = ';'
		case opens:
			nested = 1
			i += 2
			from = i + 1
		case c == ';':
			return out, nested
		default:
			out = append(out, c)
		}
	}
	return out, nested
}

// line handles one line without comments; false means a fatal error.
func (p *parser) line(file string, lineno int, line string, depth int) bool {
	switch line[0] {
	case '[':
		return p.category(file, lineno, line)
	case '#':
		return p.directive(file, lineno, line, depth)
	}
	if p.cur == nil {
		p.problem(file, lineno, "parse error: no [section] before this line")
		return false
	}
	cur := line
	escaped := cur[0] == '\\'
	if escaped {
		cur = cur[1:]
		if cur == "" || cur[0] < 33 {
			p.problem(file, lineno, "invalid escape")
			return false
		}
	}
	eq := strings.IndexByte(cur, '=')
	if escaped && eq == 0 {
		eq = strings.IndexByte(cur[1:], '=')
		if eq >= 0 {
			eq++
		}
	}
	if eq < 0 {
		p.problem(file, lineno, "no '=' (equal sign) in the line")
		return true
	}
	name, value := cur[:eq], cur[eq+1:]
	appendTo := eq > 0 && name[len(name)-1] == '+'
	if appendTo {
		name = name[:len(name)-1]
	}
	object := false
	if !appendTo && strings.HasPrefix(value, ">") {
		object, value = true, value[1:]
	}
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if name == "" {
		p.problem(file, lineno, "no variable name before '='")
		return true
	}
	if appendTo {
		for i := len(p.cur.Vars) - 1; i >= 0; i-- {
			if p.cur.Vars[i].Name == name {
				p.cur.Vars[i].Value = strings.TrimSpace(p.cur.Vars[i].Value + value)
				return true
			}
		}
	}
	p.cur.Vars = append(p.cur.Vars, Var{Name: name, Value: value, Object: object, File: file, Line: lineno})
	return true
}

// category handles "[name]" with optional "(!)", "(+)" or "(base,...)".
func (p *parser) category(file string, lineno int, line string) bool {
	end := strings.IndexByte(line, ']')
	if end < 0 {
		p.problem(file, lineno, "parse error: no closing ']'")
		return false
	}
	sec := &Section{Name: line[1:end], File: file, Line: lineno}
	rest := line[end+1:]
	if !strings.HasPrefix(rest, "(") {
		p.add(sec)
		return true
	}
	close := strings.IndexByte(rest, ')')
	if close < 0 {
		p.problem(file, lineno, "parse error: no closing ')'")
		return false
	}
	appended := false
	for _, opt := range strings.Split(rest[1:close], ",") {
		switch {
		case opt == "!":
			sec.Template = true
		case strings.HasPrefix(opt, "+"):
			base := p.cfg.Section(sec.Name)
			if base == nil {
				p.problem(file, lineno, "[%s](+) adds to a section that does not exist: define [%s] before this line", sec.Name, sec.Name)
				return false
			}
			p.cur = base
			appended = true
		default:
			base := p.cfg.Section(opt)
			if base == nil {
				p.problem(file, lineno, "[%s] inherits from [%s], which does not exist", sec.Name, opt)
				return false
			}
			sec.Vars = append(sec.Vars, base.Vars...)
		}
	}
	if !appended {
		p.add(sec)
	}
	return true
}

func (p *parser) add(sec *Section) {
	p.cfg.Sections = append(p.cfg.Sections, sec)
	p.cur = sec
}

// directive handles #include, #tryinclude and #exec.
func (p *parser) directive(file string, lineno int, line string, depth int) bool {
	word, arg, _ := strings.Cut(line[1:], " ")
	if i := strings.IndexAny(word, "\t"); i >= 0 {
		word, arg = word[:i], word[i+1:]+" "+arg
	}
	arg = strings.TrimSpace(arg)
	kind := strings.ToLower(word)
	switch kind {
	case "include", "tryinclude":
	case "exec":
		p.problem(file, lineno, "#exec runs a program; pbxtopo does not check what it prints")
		return true
	default:
		p.problem(file, lineno, "unknown directive '#%s'", word)
		return true
	}
	if arg == "" {
		p.problem(file, lineno, "#%s needs a file name", word)
		return true
	}
	if len(arg) >= 2 && (arg[0] == '"' && arg[len(arg)-1] == '"' || arg[0] == '<' && arg[len(arg)-1] == '>') {
		arg = arg[1 : len(arg)-1]
	}
	p.cfg.Includes = append(p.cfg.Includes, arg)
	if depth >= maxIncludes {
		p.problem(file, lineno, "#%s %q: includes nested more than %d deep (a loop?)", word, arg, maxIncludes)
		return false
	}
	var data []byte
	err := fmt.Errorf("includes are not followed here")
	if p.open != nil {
		data, err = p.open(arg)
	}
	if err != nil {
		if kind == "tryinclude" {
			return true
		}
		p.problem(file, lineno, "#include %q: %v", arg, err)
		return false
	}
	p.file(arg, data, depth+1)
	return true
}
