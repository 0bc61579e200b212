package astconf

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func dirOpener(dir string) Opener {
	return func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The configurations a real Asterisk loaded and used for DUNDi lookups and
// calls must pass every check.
func TestRealAsteriskConfigsPass(t *testing.T) {
	for _, inst := range []string{"a", "b"} {
		dir := filepath.Join("testdata", "asterisk", inst)
		d := Parse("dundi.conf", mustRead(t, filepath.Join(dir, "dundi.conf")), nil)
		if ps := append(d.Problems, CheckDUNDi(d)...); len(ps) > 0 {
			t.Errorf("%s/dundi.conf: %v", inst, ps)
		}
		e := Parse("extensions.conf", mustRead(t, filepath.Join(dir, "extensions.conf")), nil)
		if ps := append(e.Problems, CheckDialplan(e)...); len(ps) > 0 {
			t.Errorf("%s/extensions.conf: %v", inst, ps)
		}
		i := Parse("iax.conf", mustRead(t, filepath.Join(dir, "iax.conf")), nil)
		if len(i.Problems) > 0 {
			t.Errorf("%s/iax.conf: %v", inst, i.Problems)
		}
	}
	d := Parse("dundi.conf", mustRead(t, filepath.Join("testdata", "asterisk", "a", "dundi.conf")), nil)
	m := d.Section("mappings")
	if m == nil || len(m.Vars) != 1 || !m.Vars[0].Object || m.Vars[0].Name != "priv" ||
		m.Vars[0].Value != "dundi-priv-local,0,IAX2,dundi:${SECRET}@127.0.0.1:4570/${NUMBER},nopartial" {
		t.Fatalf("mappings parsed as %+v", m)
	}
	peer := d.Section("02:00:00:00:00:0b")
	if peer == nil || len(peer.Vars) != 8 || peer.Vars[7].Name != "outkey" || peer.Vars[7].Value != "dundiA" || peer.Vars[7].Line != 27 {
		t.Fatalf("peer parsed as %+v", peer)
	}
}

// logCase is one case of testdata/asterisk-log-lines.txt: a change to
// instance A's dundi.conf and what Asterisk logged about it.
type logCase struct {
	name     string
	old, new string
	logged   []string // log lines (without timestamps); none = silently accepted
}

func readLogCases(t *testing.T) []logCase {
	f, err := os.Open(filepath.Join("testdata", "asterisk-log-lines.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []logCase
	var cur *logCase
	inLog := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "### case: "):
			cases = append(cases, logCase{name: strings.TrimPrefix(l, "### case: ")})
			cur, inLog = &cases[len(cases)-1], false
		case cur == nil:
		case strings.HasPrefix(l, "< "):
			cur.old = l[2:]
		case strings.HasPrefix(l, "> "):
			cur.new = l[2:]
		case strings.HasPrefix(l, "--- new log lines"):
			inLog = true
		case strings.HasPrefix(l, "---"):
			inLog = false
		case inLog && strings.TrimSpace(l) != "":
			cur.logged = append(cur.logged, l)
		}
	}
	if len(cases) < 10 {
		t.Fatalf("read only %d cases", len(cases))
	}
	return cases
}

var lineRef = regexp.MustCompile(`line (\d+)`)

// Every bad line that made a real Asterisk log a warning is found by the
// checker at the same line, and so are the two mistakes Asterisk accepts
// without a word (an unknown technology, a misspelled key).
func TestCheckerFindsWhatAsteriskLogs(t *testing.T) {
	base := string(mustRead(t, filepath.Join("testdata", "asterisk", "a", "dundi.conf")))
	for _, c := range readLogCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old+"\n") {
				t.Fatalf("line %q is not in the base file", c.old)
			}
			changedLine := strings.Count(base[:strings.Index(base, c.old+"\n")], "\n") + 1
			conf := strings.Replace(base, c.old+"\n", c.new+"\n", 1)
			cfg := Parse("dundi.conf", []byte(conf), nil)
			ps := append(cfg.Problems, CheckDUNDi(cfg)...)
			if len(ps) == 0 {
				t.Fatalf("no problem found; Asterisk logged %q", c.logged)
			}
			want := changedLine
			for _, l := range c.logged {
				if m := lineRef.FindStringSubmatch(l); m != nil {
					want, _ = strconv.Atoi(m[1])
				}
			}
			// A peer-level problem is reported at its section header.
			peerLine := strings.Count(base[:strings.Index(base, "[02:00:00:00:00:0b]")], "\n") + 1
			for _, p := range ps {
				if p.Line == want || p.Line == changedLine || p.Line == peerLine {
					return
				}
			}
			t.Fatalf("problems %v, none at line %d (Asterisk logged %q)", ps, want, c.logged)
		})
	}
}

func TestParseSyntax(t *testing.T) {
	cases := []struct {
		name, in string
		problem  string // "" = none
		check    func(t *testing.T, c *Config)
	}{
		{name: "comments and escapes", in: "[a] ; head\nx = 1;2\ny = a\\;b ; c\n;-- block\nz = 9\n--; w = 3\n", check: func(t *testing.T, c *Config) {
			s := c.Section("a")
			if len(s.Vars) != 3 || s.Vars[0].Value != "1" || s.Vars[1].Value != "a;b" || s.Vars[2].Name != "w" {
				t.Fatalf("%+v", s.Vars)
			}
		}},
		{name: "object and append", in: "[a]\nexten => 1,1,NoOp()\nallow = ulaw\nallow += ,alaw\n", check: func(t *testing.T, c *Config) {
			v := c.Section("a").Vars
			if !v[0].Object || v[0].Value != "1,1,NoOp()" || len(v) != 2 || v[1].Value != "ulaw,alaw" {
				t.Fatalf("%+v", v)
			}
		}},
		{name: "append to a section", in: "[general]\na = 1\n[other]\n[general](+)\nb = 2\n", check: func(t *testing.T, c *Config) {
			if len(c.Sections) != 2 || len(c.Section("general").Vars) != 2 {
				t.Fatalf("%+v", c.Sections)
			}
		}},
		{name: "template and inheritance", in: "[t](!)\na = 1\n[x](t)\nb = 2\n", check: func(t *testing.T, c *Config) {
			if !c.Section("t").Template || len(c.Section("x").Vars) != 2 {
				t.Fatalf("%+v", c.Sections)
			}
		}},
		{name: "no equal sign", in: "[a]\nnothing here\n", problem: "a.conf:2: no '='"},
		{name: "no section", in: "a = 1\n", problem: "no [section]"},
		{name: "unclosed bracket", in: "[a\n", problem: "no closing ']'"},
		{name: "append to missing", in: "[mappings](+)\n", problem: "does not exist"},
		{name: "unknown directive", in: "#includ \"x\"\n", problem: "unknown directive"},
		{name: "missing include", in: "#include \"nope.conf\"\n", problem: `#include "nope.conf"`},
		{name: "try include", in: "#tryinclude \"nope.conf\"\n[a]\n"},
		{name: "unclosed block comment", in: "[a]\n;-- x\n", problem: "not closed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Parse("a.conf", []byte(c.in), dirOpener(t.TempDir()))
			got := fmt.Sprint(cfg.Problems)
			if c.problem == "" && len(cfg.Problems) > 0 || c.problem != "" && !strings.Contains(got, c.problem) {
				t.Fatalf("problems %s, want %q", got, c.problem)
			}
			if c.check != nil {
				c.check(t, cfg)
			}
		})
	}
}

func TestIncludeContinuesTheCurrentSection(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gen.conf"), []byte("[general](+)\nentityid = 02:00:00:00:00:01\n[mappings](+)\nx => ctx,0,IAX2,d/${NUMBER}\n"), 0o600)
	c := Parse("dundi.conf", []byte("[general]\nttl = 32\n[mappings]\n#include \"gen.conf\"\n"), dirOpener(dir))
	if len(c.Problems) > 0 || len(c.Sections) != 2 || len(c.Section("general").Vars) != 2 || c.Section("mappings").Vars[0].File != "gen.conf" {
		t.Fatalf("problems %v sections %+v", c.Problems, c.Sections)
	}
	if ps := CheckDUNDi(c); len(ps) > 0 {
		t.Fatal(ps)
	}
	loop := Parse("a.conf", []byte("#include \"a.conf\"\n"), func(string) ([]byte, error) { return []byte("#include \"a.conf\"\n"), nil })
	if !strings.Contains(fmt.Sprint(loop.Problems), "nested more than") {
		t.Fatalf("include loop: %v", loop.Problems)
	}
}

func TestCheckDialplan(t *testing.T) {
	good := "[general]\nstatic = yes\n[ctx]\nexten => 5020,1,Dial(SIP/5020)\n same => n,Hangup()\nexten => *98,hint,SIP/1\ninclude => other\nswitch => DUNDi/priv\n"
	if ps := CheckDialplan(Parse("e.conf", []byte(good), nil)); len(ps) > 0 {
		t.Fatal(ps)
	}
	for in, want := range map[string]string{
		"[c]\nsame => n,Hangup()\n":         "no exten before",
		"[c]\nexten => 1,0,NoOp()\n":        "priority",
		"[c]\nexten => 1,1\n":               "NUMBER,PRIORITY,APPLICATION",
		"[c]\nexten => 1,1,Dial(SIP/1\n":    "closing ')'",
		"[c]\nswitch => DUNDi\n":            "MODULE/DATA",
		"[c]\nfoo => bar\n":                 "unknown dialplan line",
		"[c d]\nexten => 1,1,NoOp()\n":      "not valid",
		"[c]\nexten => ,1,NoOp()\n":         "no name",
		"[c]\nexten => 1,n+x,NoOp()\n":      "n+NUMBER",
		"[c]\nexten => 1,1(start),NoOp)\n":  "",
		"[c]\nexten => 1,1(start),NoOp()\n": "",
	} {
		got := fmt.Sprint(CheckDialplan(Parse("e.conf", []byte(in), nil)))
		if want == "" && got != "[]" || want != "" && !strings.Contains(got, want) {
			t.Errorf("%q: %s, want %q", in, got, want)
		}
	}
}

func TestParseEID(t *testing.T) {
	for in, want := range map[string]string{"02:00:00:00:00:0a": "02:00:00:00:00:0a", "2:0:0:0:0:A": "02:00:00:00:00:0a",
		"02:00:00": "", "02:00:00:00:00:zz": "", "002:00:00:00:00:00": "", "02:00:00:00:00:00:00": ""} {
		got, ok := ParseEID(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseEID(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

// FuzzParse: any input gives a Config and problems, never a panic, and
// the checkers accept whatever Parse returns.
func FuzzParse(f *testing.F) {
	for _, inst := range []string{"a", "b"} {
		for _, n := range []string{"dundi.conf", "extensions.conf", "iax.conf"} {
			if b, err := os.ReadFile(filepath.Join("testdata", "asterisk", inst, n)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("[a](+,!,b)\n\\;x => ;-- y --; z\n#include <x>\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Parse("fuzz.conf", b, func(string) ([]byte, error) { return b, nil })
		CheckDUNDi(c)
		CheckDialplan(c)
		for _, p := range c.Problems {
			if p.Msg == "" {
				t.Fatal("a problem without a message")
			}
		}
	})
}
