package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/internal/testutil"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/pbxtopo/pbxtopo/store"
)

// TestHeldHealthIsShown: a node whose view loses three of five clusters at
// once holds its last good view and says so in /v1/health, in its status
// report and in the zone's comments.
func TestHeldHealthIsShown(t *testing.T) {
	cfg := store.DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
	cfg.Replica = "tpa1"
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	names := []string{"ams", "lon", "sfo", "tpa1", "tpa2"}
	var muts []store.Mutation
	view := ""
	for i, c := range names {
		f := pbx.Fields{"name": c, "site": "s", "voice_vip": fmt.Sprintf("192.0.2.%d", i+1)}
		muts = append(muts, store.Mutation{Table: "clusters", Key: c, Value: f.AppendBinary(nil)})
		view += c + " up\n"
	}
	// The view the node published before this start: every cluster up.
	if _, err := st.WriteLocal(ctx, "test", muts, map[string][]byte{"srv/health/view": []byte(view)}); err != nil {
		t.Fatal(err)
	}
	members := srv.NewStaticHealth()
	checker, err := srv.NewChecker(srv.CheckerConfig{HoldDown: time.Minute, HoldDownWindow: 10 * time.Second},
		srv.CheckerDeps{Members: members, Source: st})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go checker.Run(cctx)
	dcfg := srv.DefaultConfig()
	dcfg.Addr = "127.0.0.1:0"
	server, err := srv.New(dcfg, srv.Deps{Source: st, Health: checker})
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	svc := service.NewService(st)
	svc.UseDNS(server, checker)
	for _, c := range []string{"sfo", "lon", "ams"} {
		members.Set(c, false)
	}
	testutil.Eventually(t, 5*time.Second, "held with ams, lon and sfo lost", func() bool {
		h := checker.Hold()
		return h.Active() && slices.Equal(h.Lost, []string{"ams", "lon", "sfo"})
	})

	z, err := svc.Zone(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if z.Hold == nil || len(z.Down) != 0 || !strings.Contains(z.Text, "; HELD: this node lost ams, lon, sfo (3 of the 5 clusters) at once") {
		t.Fatalf("zone: hold %+v, down %v, text:\n%s", z.Hold, z.Down, z.Text)
	}
	rep, err := svc.StatusReport(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.HasPrefix(p, "DNS health held until ") }) {
		t.Fatalf("status problems: %v", rep.Problems)
	}
	rec := httptest.NewRecorder()
	httpapi.Handler(svc, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/health", nil))
	var health struct {
		Status  string    `json:"status"`
		DNSHold *srv.Hold `json:"dns_hold"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &health); err != nil || health.Status != "ok" || health.DNSHold == nil ||
		!slices.Equal(health.DNSHold.Lost, []string{"ams", "lon", "sfo"}) {
		t.Fatalf("/v1/health: %s (%v)", rec.Body, err)
	}
	// The view recovers: nothing held, nothing said.
	for _, c := range []string{"sfo", "lon", "ams"} {
		members.Set(c, true)
	}
	testutil.Eventually(t, 5*time.Second, "the hold ends", func() bool { return !checker.Hold().Active() })
	rec = httptest.NewRecorder()
	httpapi.Handler(svc, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/health", nil))
	if strings.Contains(rec.Body.String(), "dns_hold") {
		t.Fatalf("/v1/health after the hold: %s", rec.Body)
	}
}
