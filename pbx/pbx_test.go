package pbx

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValidationMessages(t *testing.T) {
	tests := []struct {
		name  string
		table *Table
		rec   Fields
		want  string
	}{
		{"letters in number", Extensions, Fields{"cluster": "tpa1", "regexten": "61O9"},
			"extension 61O9: not a dial string (letters are not allowed)"},
		{"vmsecret too long", Extensions, Fields{"cluster": "tpa1", "regexten": "6109", "vmsecret": strings.Repeat("1", 23)},
			"extension tpa1/6109: vmsecret is 23 characters, the limit is 22"},
		{"non-contiguous mask", ACLs, Fields{"name": "internal_phones", "networks": "10.10.10.0/255.255.255.0, 192.168.68.0/25 10.10.10.0/255.255.0.255"},
			`acl internal_phones: network 3 "10.10.10.0/255.255.0.255" is not a contiguous mask`},
		{"missing cluster", Extensions, Fields{"regexten": "6109"}, "extension /6109: cluster is required"},
		{"unknown field", Extensions, Fields{"cluster": "tpa1", "regexten": "6109", "mailbx": "6109"}, `unknown field "mailbx" (did you mean "mailbox"?)`},
		{"bad yes/no", Extensions, Fields{"cluster": "tpa1", "regexten": "6109", "roaming": "maybe"}, `roaming "maybe" must be yes or no`},
		{"secret not shown", Extensions, Fields{"cluster": "tpa1", "regexten": "6109", "vmsecret": "12a4"}, "vmsecret must be digits only"},
		{"bad cluster name", Clusters, Fields{"name": "TPA_1", "site": "tpa", "voice_vip": "192.168.0.218"}, `name "TPA_1" is not a valid name`},
		{"bad vip", Clusters, Fields{"name": "tpa1", "site": "tpa", "voice_vip": "192.168.0.318"}, `voice_vip "192.168.0.318" is not an IP address`},
		{"bad call group", Extensions, Fields{"cluster": "tpa1", "regexten": "6109", "callgroup": "5-64"}, `callgroup "5-64" has "5-64"`},
		{"bad date", Hours, Fields{"cluster": "tpa1", "group": "USSales", "function": "X", "start_date": "02/30"}, `start_date "02/30" is not a date`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.table.Check(tt.rec)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Check = %v, want a ValidationError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "12a4") {
				t.Fatalf("error %q shows a secret", err)
			}
		})
	}
}

func TestCheckNormalizes(t *testing.T) {
	in := Fields{"cluster": "tpa1", "regexten": " 6109 ", "roaming": "YES", "protocol": "pjsip",
		"phonemac": "00-04-F2-AB-CD-EF", "permit": "10.0.0.0/8;192.168.0.1", "allow": "ULAW&alaw"}
	got, err := Extensions.Check(in)
	if err != nil {
		t.Fatal(err)
	}
	want := Fields{"cluster": "tpa1", "regexten": "6109", "roaming": "yes", "protocol": "PJSIP",
		"phonemac": "00:04:f2:ab:cd:ef", "permit": "10.0.0.0/8,192.168.0.1", "allow": "ulaw,alaw"}
	if !got.Equal(want) {
		t.Fatalf("Check = %v, want %v", got, want)
	}
	if in["roaming"] != "YES" {
		t.Fatal("Check changed its input")
	}
}

func TestExtensionHas66GuideFields(t *testing.T) {
	n := 0
	for _, f := range Extensions.Fields {
		if f.Name != "roaming" {
			n++
		}
	}
	if n != 66 {
		t.Fatalf("extensions has %d guide fields, the guide lists 66", n)
	}
	for _, name := range []string{"regseconds", "ipaddr", "lastms", "useragent", "vmunread", "agentstatus"} {
		if s, _ := Extensions.Spec(name); !s.Status {
			t.Errorf("%s should be a status field", name)
		}
	}
}

func TestFieldsBinaryRoundTrip(t *testing.T) {
	f := Fields{"cluster": "tpa1", "regexten": "6109", "name": "George Lopez", "empty": ""}
	b := f.AppendBinary(nil)
	g, err := DecodeFields(b)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Equal(f.Clone().Compact()) {
		t.Fatalf("round trip = %v, want %v", g, f)
	}
	if !bytes.Equal(b, g.AppendBinary(nil)) {
		t.Fatal("encoding is not deterministic")
	}
	for _, name := range []string{"cluster", "name", "regexten"} {
		if v, ok := LookupField(b, name); !ok || v != f[name] {
			t.Errorf("LookupField(%s) = %q, %v", name, v, ok)
		}
	}
	if _, ok := LookupField(b, "mailbox"); ok {
		t.Error("LookupField found an absent field")
	}
	for i := 0; i < len(b); i++ {
		if _, err := DecodeFields(b[:i]); err == nil {
			t.Errorf("DecodeFields accepted a record truncated to %d bytes", i)
		}
	}
}

func TestParseNetworks(t *testing.T) {
	good := map[string]string{
		"10.10.10.64/255.255.255.252": "10.10.10.64/30",
		"192.168.0.0/16":              "192.168.0.0/16",
		"2001:db8::/32":               "2001:db8::/32",
		"10.0.0.1":                    "10.0.0.1/32",
		"0.0.0.0/0.0.0.0":             "0.0.0.0/0",
	}
	for in, want := range good {
		nets, msg := ParseNetworks(in)
		if msg != "" || len(nets) != 1 || nets[0].Prefix.String() != want {
			t.Errorf("ParseNetworks(%q) = %v %q, want %s", in, nets, msg, want)
		}
	}
	for _, in := range []string{"10.0.0.0/33", "10.0.0.0/255.0.255.0", "host.example/24", "::1/255.255.255.0"} {
		if _, msg := ParseNetworks(in); msg == "" {
			t.Errorf("ParseNetworks(%q) accepted a bad network", in)
		}
	}
	nets, _ := ParseNetworks("0.0.0.0/0")
	if !nets[0].PermitsAll() {
		t.Error("0.0.0.0/0 should permit all")
	}
}

func TestReadCSVReportsEveryBadLine(t *testing.T) {
	in := "cluster,regexten,name\n" +
		"tpa1,6101,Leon Johnstone\n" +
		"tpa1,61O9,George Lopez\n" +
		"tpa1,6103\n" +
		"tpa1,6104,\"Jessie \"G\" Gonzalez\"\n" +
		"tpa1,6105,Ken Thomas\n"
	var got []Row
	err := ReadCSV(strings.NewReader(in), "ext.csv", Extensions, func(r Row) error {
		if _, err := Extensions.Check(r.Fields); err != nil {
			return err
		}
		got = append(got, r)
		return nil
	})
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("ReadCSV = %v, want an InputError", err)
	}
	lines := []int{}
	for _, l := range ie.Lines {
		lines = append(lines, l.Line)
	}
	if len(lines) != 3 || lines[0] != 3 || lines[1] != 4 || lines[2] != 5 {
		t.Fatalf("bad lines = %v, want [3 4 5]\n%v", lines, err)
	}
	msg := err.Error()
	for _, want := range []string{"line 3: extension 61O9: not a dial string", "line 4: has 2 values, the header has 3 columns", "line 5: column"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if len(got) != 2 || got[1].Line != 6 {
		t.Fatalf("good rows = %v", got)
	}
}

func TestReadCSVUnknownColumn(t *testing.T) {
	err := ReadCSV(strings.NewReader("cluster,regexten,mailbx,colour\n"), "x.csv", Extensions, func(Row) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `"mailbx" (did you mean "mailbox"?)`) || !strings.Contains(err.Error(), `"colour"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestReadJSON(t *testing.T) {
	in := `[
  {"cluster": "tpa1", "regexten": "6101", "roaming": true, "call-limit": 4},
  {"cluster": "tpa1", "regexten": ["6102"]},
  {"cluster": "tpa1", "regexten": "6103"}
]`
	var got []Row
	err := ReadJSON(strings.NewReader(in), "x.json", Extensions, func(r Row) error { got = append(got, r); return nil })
	if err == nil || !strings.Contains(err.Error(), `line 3: field "regexten" holds a list`) {
		t.Fatalf("err = %v", err)
	}
	if len(got) != 2 || got[0].Fields["roaming"] != "yes" || got[0].Fields["call-limit"] != "4" || got[1].Line != 4 {
		t.Fatalf("rows = %+v", got)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []Fields{got[0].Fields}); err != nil {
		t.Fatal(err)
	}
	var back []Row
	if err := ReadJSON(&buf, "y.json", Extensions, func(r Row) error { back = append(back, r); return nil }); err != nil || !back[0].Fields.Equal(got[0].Fields) {
		t.Fatalf("JSON round trip = %v %v", back, err)
	}
}

// loadSample reads testdata/enterprise into a catalog, checking every record.
func loadSample(t testing.TB) MapCatalog {
	t.Helper()
	cat := MapCatalog{}
	for _, name := range TableNames() {
		tbl, _ := LookupTable(name)
		path := filepath.Join("..", "testdata", "enterprise", name+".csv")
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var rows []Row
		err = ReadCSV(fh, path, tbl, func(r Row) error { rows = append(rows, r); return nil })
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		recs, err := PrepareRows(tbl, path, rows, cat)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range recs {
			cat.Put(tbl, f)
		}
	}
	return cat
}

func TestSampleEnterpriseIsValid(t *testing.T) {
	cat := loadSample(t)
	if n := len(cat["extensions"]); n < 40 {
		t.Fatalf("sample has %d extensions", n)
	}
	if cat["extensions"]["lon/5021"]["site"] != "lon" || cat["extensions"]["tpa2/5020"]["mailbox"] != "5020" {
		t.Fatalf("sample records wrong: %v", cat["extensions"]["lon/5021"])
	}
}

func TestResolveChecksReferences(t *testing.T) {
	cat := loadSample(t)
	_, err := Extensions.Prepare(Fields{"cluster": "tpa9", "regexten": "7000", "acl": "nosuch"}, cat)
	if err == nil || !strings.Contains(err.Error(), `cluster "tpa9" is not defined`) || !strings.Contains(err.Error(), `acl "nosuch" is not defined`) {
		t.Fatalf("err = %v", err)
	}
	_, err = Extensions.Prepare(Fields{"cluster": "tpa1", "site": "lon", "regexten": "7000"}, cat)
	if err == nil || !strings.Contains(err.Error(), `site "lon" does not match cluster tpa1`) {
		t.Fatalf("err = %v", err)
	}
}

func TestPlanBatch(t *testing.T) {
	cat := loadSample(t)
	rnd := rand.New(rand.NewSource(1))
	plan, err := PlanBatch(BatchRequest{Template: "USSales", Cluster: "tpa1", From: "6110", To: "6119", Rand: rnd}, cat)
	if err != nil || !plan.Valid() || len(plan.Records) != 10 {
		t.Fatalf("plan = %+v, %v", plan, err)
	}
	r := plan.Records[0]
	if r["regexten"] != "6110" || r["astgroup"] != "USSales" || r["context"] != "USSales1" || r["site"] != "tpa" || r["mailbox"] != "6110" {
		t.Fatalf("record = %v", r)
	}
	if WeakSecret(r["secret"], "6110", 12) != "" || WeakPIN(r["vmsecret"], "6110", 6) != "" {
		t.Fatalf("batch made a weak secret")
	}

	// 5101 exists on sfo and is not roaming; 5102 exists on tpa2 itself.
	plan, err = PlanBatch(BatchRequest{Template: "tpa2/5103", Cluster: "tpa2", From: "5101", To: "5104", Rand: rnd}, cat)
	if err != nil || plan.Valid() {
		t.Fatalf("plan = %+v, %v", plan, err)
	}
	joined := strings.Join(plan.Problems, "\n")
	for _, want := range []string{"5101: already exists on cluster tpa2", "5102: already exists on cluster tpa2"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems lack %q:\n%s", want, joined)
		}
	}
	plan, _ = PlanBatch(BatchRequest{Template: "IT", Cluster: "ams", From: "5540", To: "5540", Rand: rnd}, cat)
	if plan.Valid() || !strings.Contains(plan.Problems[0], "5540: already exists on cluster sfo and is not roaming") {
		t.Fatalf("plan = %+v", plan)
	}
	// A roaming template next to a roaming number: valid, mailbox left out.
	plan, _ = PlanBatch(BatchRequest{Template: "sfo/5604", Cluster: "lon", From: "5604", To: "5604", Rand: rnd}, cat)
	if !plan.Valid() || plan.Records[0]["mailbox"] != "" || len(plan.Notes) != 1 {
		t.Fatalf("plan = %+v", plan)
	}
	for _, bad := range []BatchRequest{{Template: "nosuch", Cluster: "tpa1", From: "1", To: "2"},
		{Template: "IT", Cluster: "tpa9", From: "1", To: "2"}, {Template: "IT", Cluster: "tpa1", From: "9", To: "2"},
		{Template: "IT", Cluster: "tpa1", From: "1", To: "99999"}} {
		if _, err := PlanBatch(bad, cat); err == nil {
			t.Errorf("PlanBatch(%+v) accepted a bad request", bad)
		}
	}
}

func TestWeakSecrets(t *testing.T) {
	for secret, want := range map[string]string{"": "empty", "1234": "a well-known default", "6109": "equal to the extension number",
		"ab1": "shorter than the minimum length", "999999": "a repeated or sequential pattern", "hwtMazpRnvuS3VgA": ""} {
		if got := WeakSecret(secret, "6109", 6); got != want {
			t.Errorf("WeakSecret(%q) = %q, want %q", secret, got, want)
		}
	}
}

func FuzzDecodeFields(f *testing.F) {
	f.Add(Fields{"a": "b", "cluster": "tpa1"}.AppendBinary(nil))
	f.Add(Fields{"cluster": "tpa1", "name": "Ann \"A\" <a&b>", "regexten": "6101", "secret": "s3cret", "vmsecret": "1234"}.AppendBinary(nil))
	f.Add([]byte{1, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := DecodeFields(b)
		// Values cut from one copy decode the same, errors included.
		h, herr := DecodeFieldsTogether(b)
		if !reflect.DeepEqual(h, g) || fmt.Sprint(herr) != fmt.Sprint(err) {
			t.Fatalf("DecodeFieldsTogether = %v, %v; DecodeFields = %v, %v", h, herr, g, err)
		}
		// From the binary form, the same, or false for what does not
		// decode or has a newer agent's field; redacted as Redact does.
		for _, redact := range []bool{false, true} {
			want, dec := g, err
			var isSecret func(string) bool
			if redact && err == nil {
				want = Extensions.Redact(g)
				isSecret = func(name string) bool { s, ok := Extensions.Spec(name); return ok && s.Secret }
			}
			got, ok := AppendJSONFromBinary([]byte("x"), b, isSecret)
			if wantOK := dec == nil && len(g.UnknownFields()) == 0; ok != wantOK {
				t.Fatalf("AppendJSONFromBinary ok %v, want %v (decoding: %v)", ok, wantOK, dec)
			}
			if !ok && string(got) != "x" {
				t.Fatalf("AppendJSONFromBinary changed b on failure: %q", got)
			}
			if ok && !bytes.Equal(got, want.AppendJSON([]byte("x"))) {
				t.Fatalf("AppendJSONFromBinary = %s, AppendJSON = %s", got, want.AppendJSON([]byte("x")))
			}
		}
		if err != nil {
			return
		}
		for k, v := range g {
			if got, ok := LookupField(b, k); !ok || got != v {
				t.Fatalf("LookupField(%q) = %q %v, want %q", k, got, ok, v)
			}
		}
		if len(g.UnknownFields()) > 0 {
			// A newer agent's fields sort by names this agent does not
			// know: the record is kept verbatim, never re-encoded here.
			if h, err := DecodeFields(g.AppendBinary(nil)); err != nil || !reflect.DeepEqual(h, g) {
				t.Fatalf("%v does not survive a round trip: %v %v", g, h, err)
			}
			return
		}
		if !bytes.Equal(g.AppendBinary(nil), b) {
			t.Fatalf("decoded %v does not re-encode to the input", g)
		}
		for k, v := range g {
			if got, ok := LookupField(b, k); !ok || got != v {
				t.Fatalf("LookupField(%q) = %q %v, want %q", k, got, ok, v)
			}
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	f.Add("cluster,regexten,name\ntpa1,6101,Leon\n")
	f.Add("cluster,regexten\n\"tpa1,6101\n")
	f.Fuzz(func(t *testing.T, in string) {
		_ = ReadCSV(strings.NewReader(in), "fuzz.csv", Extensions, func(r Row) error {
			_, err := Extensions.Check(r.Fields)
			return err
		})
	})
}

func FuzzReadJSON(f *testing.F) {
	f.Add(`[{"cluster":"tpa1","regexten":"6101"}]`)
	f.Add(`[{"cluster":1},`)
	f.Fuzz(func(t *testing.T, in string) {
		_ = ReadJSON(strings.NewReader(in), "fuzz.json", Extensions, func(r Row) error {
			_, err := Extensions.Check(r.Fields)
			return err
		})
	})
}

func FuzzCheck(f *testing.F) {
	f.Add("networks", "10.0.0.0/255.0.255.0")
	f.Add("callgroup", "1,3-5")
	f.Fuzz(func(t *testing.T, field, value string) {
		for _, tbl := range Tables() {
			if got, err := tbl.Check(Fields{field: value}); err == nil {
				// A normalized record must stay valid and unchanged.
				again, err := tbl.Check(got)
				if err != nil || !again.Equal(got) {
					t.Fatalf("%s: Check(%v) = %v, then %v %v", tbl.Name, Fields{field: value}, got, again, err)
				}
			}
		}
	})
}

// The dictionary is append-only, so a column added later must be appended
// to it by hand; this test says so when someone forgets.
func TestEveryColumnIsInTheDictionary(t *testing.T) {
	for _, tbl := range Tables() {
		for _, c := range tbl.Columns() {
			if fieldCode[c] == 0 {
				t.Errorf("%s.%s is not in fieldDictionary: append it at the end", tbl.Name, c)
			}
		}
	}
}

func BenchmarkLookupField(b *testing.B) {
	enc := Fields{"cluster": "tpa1", "regexten": "6109", "name": "George Lopez", "astgroup": "USSales",
		"callerid": "George Lopez <6109>", "mailbox": "8109", "context": "USSales1", "secret": "x"}.AppendBinary(nil)
	for i := 0; i < b.N; i++ {
		if !HasField(enc, "astgroup", "ussales") {
			b.Fatal("not found")
		}
	}
}

func BenchmarkDecodeFields(b *testing.B) {
	enc := Fields{"cluster": "tpa1", "regexten": "6109", "name": "George Lopez", "astgroup": "USSales",
		"callerid": "George Lopez <6109>", "mailbox": "8109", "context": "USSales1", "secret": "x"}.AppendBinary(nil)
	for i := 0; i < b.N; i++ {
		if _, err := DecodeFields(enc); err != nil {
			b.Fatal(err)
		}
	}
}
