package mysql

import (
	"errors"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
)

func TestParseDSN(t *testing.T) {
	good := []struct {
		in   string
		want DSN
	}{
		{"bridge:pw@tcp(db.example:3307)/asterisk", DSN{"bridge", "pw", "db.example:3307", "asterisk"}},
		{"root@tcp(127.0.0.1)/realtime", DSN{"root", "", "127.0.0.1:3306", "realtime"}},
		{"u:p@ss@tcp([::1]:3306)/a_b", DSN{"u", "p@ss", "[::1]:3306", "a_b"}},
	}
	for _, c := range good {
		d, err := ParseDSN(c.in)
		if err != nil || d != c.want {
			t.Errorf("ParseDSN(%q) = %+v, %v; want %+v", c.in, d, err, c.want)
		}
	}
	bad := []string{"", "tcp(h:1)/db", "u@h:3306/db", "u@tcp(h:1)", "u@tcp(h:99999)/db", "u@tcp(h:1)/db?x=1",
		"u@tcp(h:1)/d-b", "u:secret@udp(h:1)/db", "u@tcp()/db", "u@tcp(:3306)/db"}
	for _, in := range bad {
		_, err := ParseDSN(in)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "mysql.dsn") {
			t.Errorf("ParseDSN(%q) = %v; want an ErrConfig naming mysql.dsn", in, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseDSN(%q) shows the password: %v", in, err)
		}
	}
	if s := (DSN{"u", "pw", "h:1", "db"}).String(); strings.Contains(s, "pw") {
		t.Errorf("String() shows the password: %s", s)
	}
}

func TestValidate(t *testing.T) {
	base := DefaultConfig()
	base.DSN = "u@tcp(h:1)/db"
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Config){
		"mysql.mapping":      func(c *Config) { c.Mapping = "vicidial" },
		"mysql.tables":       func(c *Config) { c.Tables = []string{"cdr"} },
		"mysql.name":         func(c *Config) { c.Name = "a b" },
		"mysql.marker_table": func(c *Config) { c.MarkerTable = "x;drop" },
		"mysql.batch_rows":   func(c *Config) { c.BatchRows = 0 },
		"mysql.min_backoff":  func(c *Config) { c.MaxBackoff = 0 },
	}
	for key, mod := range cases {
		c := base
		mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: err = %v, want one naming the key", key, err)
		}
	}
}

// A record written out and read back in is the same record, for every
// table of every shipped mapping.
func TestMappingsRoundTrip(t *testing.T) {
	rec := pbx.Fields{"cluster": "tpa1", "site": "tpa", "regexten": "6109", "name": "George", "secret": "Xy7-secret",
		"mailbox": "6109@sales", "vmsecret": "4831", "context": "sales", "dtmfmode": "rfc2833", "canreinvite": "no",
		"callgroup": "1", "call-limit": "2", "authuser": "gl", "encryption": "yes", "astgroup": "USSales"}
	for _, m := range Mappings() {
		for _, tm := range m.Tables {
			row, err := tm.FromFields("tpa1/6109", rec)
			if err != nil {
				t.Fatal(err)
			}
			key, err := tm.RecordKey(row, "tpa1", Finder{Box: func(box string) string {
				if box == "6109@sales" {
					return "tpa1/6109"
				}
				return ""
			}})
			if err != nil || key != "tpa1/6109" {
				t.Fatalf("%s: key %q, %v", tm.Name, key, err)
			}
			back, err := tm.ToFields(row, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tm.Owned() {
				if back[f] != rec[f] && f != "protocol" {
					t.Errorf("%s/%s: field %s came back %q, want %q", m.Name, tm.Name, f, back[f], rec[f])
				}
			}
		}
	}
}

func TestGuideDDLHasTheGuideColumns(t *testing.T) {
	ddl := GuideDDL()
	for _, f := range pbx.Extensions.Fields {
		if f.Name != "roaming" && !strings.Contains(ddl, "`"+f.Name+"` ") {
			t.Errorf("GuideDDL lacks column %s", f.Name)
		}
	}
	if got := strings.Count(ddl, "\n  `"); got != 66 {
		t.Errorf("GuideDDL has %d columns, the guide 66", got)
	}
}

func TestParseEnum(t *testing.T) {
	got := parseEnum("enum('yes','no','it''s','a,b')")
	want := []string{"yes", "no", "it's", "a,b"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("parseEnum = %q", got)
	}
}

func TestMentions(t *testing.T) {
	cases := map[string]bool{
		"alter table extensions add x int":         true,
		"alter table `extensions` add x int":       true,
		"alter table extensions_old add x int":     false,
		"create table myextensions (a int)":        false,
		"rename table a to extensions":             true,
		"drop table sippeers, extensions":          true,
		"alter table db.extensions drop column id": true,
	}
	for q, want := range cases {
		if mentions(q, "extensions") != want {
			t.Errorf("mentions(%q) = %v", q, !want)
		}
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"u:p@tcp(h:1)/db", "root@tcp(127.0.0.1)/x", "a@tcp([::1]:3306)/b", "@tcp(", "u@tcp(h:0)/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDSN(s)
		if err != nil {
			return
		}
		// What parses prints back to something that parses the same.
		again, err := ParseDSN(d.User + ":" + d.Password + "@tcp(" + d.Addr + ")/" + d.Database)
		if err != nil || again != d {
			t.Fatalf("%q parsed to %+v, which reparses to %+v, %v", s, d, again, err)
		}
	})
}

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add([]byte(`{"server_id":1,"instance":"ab","file":"binlog.000001","pos":4}`))
	f.Add([]byte(`{"file":"../x","pos":9}`))
	f.Add([]byte(`nonsense`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCheckpoint(b)
		if err != nil {
			return
		}
		back, err := DecodeCheckpoint(c.encode())
		if err != nil || back != c {
			t.Fatalf("%q decoded to %+v, which round-trips to %+v, %v", b, c, back, err)
		}
	})
}

func FuzzParseEnum(f *testing.F) {
	f.Add("enum('a','b')")
	f.Add("set('x''y',')")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range parseEnum(s) {
			if len(m) > len(s) {
				t.Fatalf("member %q longer than its type %q", m, s)
			}
		}
	})
}
