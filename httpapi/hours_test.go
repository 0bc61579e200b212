package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestHoursThroughAPI asks the read role's API whether USSales (tpa1,
// site tpa in America/New_York) is open, and for its dialplan.
func TestHoursThroughAPI(t *testing.T) {
	svc, _ := sampleService(t)
	tokens := map[string]Token{"read-token-0123456789": {service.RoleRead, "noc"}}
	srv := httptest.NewServer(Handler(svc, NewTokenAuth(tokens, slog.New(slog.DiscardHandler))))
	defer srv.Close()
	c, err := NewClientTLS(srv.URL, "read-token-0123456789", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		at   string
		open bool
		rule string
	}{
		{"2026-12-22T19:00:00Z", true, "tpa1/USSales/OPEN"},       // Tue 14:00 EST
		{"2026-12-25T15:00:00Z", false, "tpa1/USSales/CHRISTMAS"}, // Fri, Christmas
		{"2027-12-25T15:00:00Z", false, "tpa1/USSales/CHRISTMAS"}, // Sat, Christmas next year
		{"2026-12-22T17:30:00Z", false, ""},                       // Tue 12:30 EST, before 13:00
		{"2026-07-01T17:30:00Z", true, "tpa1/USSales/OPEN"},       // Wed 13:30 EDT
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		ans, err := c.HoursNow(ctx, "USSales", "", at)
		if err != nil {
			t.Fatal(err)
		}
		if len(ans.Decisions) != 1 {
			t.Fatalf("%s: %d decisions", tc.at, len(ans.Decisions))
		}
		d := ans.Decisions[0]
		if d.Open != tc.open || d.Rule != tc.rule || d.Zone != "America/New_York" {
			t.Errorf("%s: open=%v rule=%q zone=%s (%s), want open=%v rule=%q", tc.at, d.Open, d.Rule, d.Zone, d.Reason, tc.open, tc.rule)
		}
	}
	dp, err := c.HoursDialplan(ctx, "USSales", "tpa1")
	if err != nil || !strings.Contains(dp.Text, "GotoIfTime(13:00-22:00,mon-fri,*,*,America/New_York?rule-OPEN)") {
		t.Fatalf("dialplan: %v\n%s", err, dp.Text)
	}
	_, err = c.HoursNow(ctx, "NoSuchGroup", "", time.Now())
	if !errors.Is(err, store.ErrNotFound) && (err == nil || !strings.Contains(err.Error(), "no business hours")) {
		t.Fatalf("unknown group: %v", err)
	}
}
