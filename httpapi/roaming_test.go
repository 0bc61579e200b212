package httpapi

import (
	"context"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/roaming"
	"github.com/pbxtopo/pbxtopo/service"
)

// The roaming API answers the same through the HTTP client as from the
// local service, and acknowledgements are records like any other.
func TestRoamingAPIThroughTheClient(t *testing.T) {
	svc, _ := sampleService(t)
	srv := httptest.NewServer(Handler(svc, fixedRole(service.RoleAdmin)))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "t")
	ctx := context.Background()
	for _, api := range []service.RoamingAPI{svc, c} {
		r, err := api.Roaming(ctx, roaming.Filter{Cluster: "sfo", Sort: "name"})
		if err != nil || len(r.Rows) != 8 || r.Rows[0].Name != "5200" || r.Rows[0].Voicemail != roaming.VMDuplicate {
			t.Fatalf("%T report: %+v %v", api, r, err)
		}
	}
	local, _ := svc.Roaming(ctx, roaming.Filter{})
	remote, _ := c.Roaming(ctx, roaming.Filter{})
	if !reflect.DeepEqual(local.Rows, remote.Rows) || len(local.Findings) != len(remote.Findings) || local.Version != remote.Version {
		t.Fatal("the client's report differs from the service's")
	}
	a, err := c.Audit(ctx, service.AuditQuery{Severity: "critical"})
	if err != nil || len(a.Findings) != 3 || a.Findings[0].Severity != roaming.Critical || a.AlertingAtLeast(roaming.Info) != 12 {
		t.Fatalf("audit: %+v %v", a, err)
	}
	if _, err := c.Ack(ctx, service.AckRequest{Finding: "SEC-TRUNK-ORPHAN:tpa1:BT", Why: "being provisioned"}); err != nil {
		t.Fatal(err)
	}
	a, _ = svc.Audit(ctx, service.AuditQuery{Severity: "critical"})
	for _, f := range a.Findings {
		if f.ID == "SEC-TRUNK-ORPHAN:tpa1:BT" && (f.Ack == nil || f.Ack.By != "tester" || f.Ack.Why != "being provisioned" || f.Ack.At == "") {
			t.Fatalf("ack %+v", f.Ack)
		}
	}
	if a.Alerting["critical"] != 2 || a.Acknowledged != 1 {
		t.Fatalf("after ack: %+v", a.Alerting)
	}
	view, err := c.Get(ctx, "acks", "SEC-TRUNK-ORPHAN:tpa1:BT")
	if err != nil || view.Fields["why"] != "being provisioned" {
		t.Fatalf("the ack is not a record: %+v %v", view, err)
	}
	if _, err := c.Unack(ctx, "SEC-TRUNK-ORPHAN:tpa1:BT"); err != nil {
		t.Fatal(err)
	}
	if a, _ = c.Audit(ctx, service.AuditQuery{}); a.Alerting["critical"] != 3 {
		t.Fatalf("after unack: %+v", a.Alerting)
	}
	b, err := c.DUNDiConfig(ctx, "tpa2")
	if err != nil || b.Numbers != 2 || len(b.Files) != 3 || !strings.Contains(b.File(roaming.ExtensionsFile).Content, "exten => 5020,1,Dial(SIP/5020)") {
		t.Fatalf("dundi: %+v %v", b, err)
	}
	var ae *service.Error
	for _, c := range []struct {
		err  error
		code int
		msg  string
	}{
		{second(c.Roaming(ctx, roaming.Filter{Sort: "nme"})), 400, `did you mean "name"`},
		{second(c.Audit(ctx, service.AuditQuery{Severity: "high"})), 400, "use info, warning or critical"},
		{second(c.Ack(ctx, service.AckRequest{Finding: "SEC-NOPE:x", Why: "x"})), 404, "run 'pbxtopo audit'"},
		{second(c.Ack(ctx, service.AckRequest{Finding: "SEC-TRUNK-ORPHAN:tpa1:BT"})), 400, "say why"},
		{second(c.Unack(ctx, "SEC-TRUNK-ORPHAN:tpa1:BT")), 404, "is not acknowledged"},
		{second(c.DUNDiConfig(ctx, "nyc")), 404, "the clusters are ams, lon, sfo, tpa1, tpa2"},
		{second(c.DUNDiConfig(ctx, "")), 400, "--cluster"},
	} {
		if !errors.As(c.err, &ae) || ae.Code != c.code || !strings.Contains(ae.Msg, c.msg) {
			t.Errorf("got %v, want %d %q", c.err, c.code, c.msg)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestRoamingRoles(t *testing.T) {
	svc, _ := sampleService(t)
	srv := httptest.NewServer(Handler(svc, fixedRole(service.RoleRead)))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "t")
	ctx := context.Background()
	if _, err := c.Audit(ctx, service.AuditQuery{}); err != nil {
		t.Fatalf("read role cannot audit: %v", err)
	}
	var ae *service.Error
	if _, err := c.Ack(ctx, service.AckRequest{Finding: "SEC-TRUNK-ORPHAN:tpa1:BT", Why: "x"}); !errors.As(err, &ae) || ae.Code != 403 {
		t.Fatalf("read role acknowledged a finding: %v", err)
	}
}

// TestAuditUsesTrunkStatus: a registering trunk that a node reports
// unregistered is an orphan finding; once reported registered, it is not;
// a trunk nobody reports on is unknown and raises nothing.
func TestAuditUsesTrunkStatus(t *testing.T) {
	svc, st := sampleService(t)
	ctx := context.Background()
	orphan := func() bool {
		t.Helper()
		r, err := svc.Audit(ctx, service.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.Findings {
			if f.ID == roaming.RuleTrunkOrphan+":lon:SIP-32" {
				return true
			}
		}
		return false
	}
	if orphan() {
		t.Fatal("a trunk without status is reported as never registered")
	}
	put := func(regstatus string) {
		t.Helper()
		v := pbx.Fields{"regstatus": regstatus, "state": "down"}.AppendBinary(nil)
		if err := st.PutStatus(ctx, map[string][]byte{ami.TrunkKey("lon", "SIP-32", "lon-1"): v}); err != nil {
			t.Fatal(err)
		}
	}
	put("unregistered")
	if !orphan() {
		t.Fatal("a trunk reported unregistered is not an orphan finding")
	}
	put("registered")
	if orphan() {
		t.Fatal("a registered trunk is still an orphan finding")
	}
}
