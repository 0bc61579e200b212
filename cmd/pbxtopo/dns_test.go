package main

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/service"
	"github.com/pbxtopo/pbxtopo/srv"
	"github.com/pbxtopo/pbxtopo/store"
)

func TestDNSZoneOffline(t *testing.T) {
	dir := sampleStore(t)
	out := mustRun(t, "dns", "zone", "--data-dir", dir)
	for _, want := range []string{
		"; voice.example.net. serial ", "built offline with every cluster up",
		"$ORIGIN voice.example.net.\nvoice.example.net.\t30\tIN\tSOA\tns1.voice.example.net. hostmaster.voice.example.net. ",
		"_sip._udp.tpa1.voice.example.net.\t30\tIN\tSRV\t10 0 5060 tpa1.voice.example.net.\n_sip._udp.tpa1.voice.example.net.\t30\tIN\tSRV\t20 0 5060 tpa2.voice.example.net.",
		"tpa1.voice.example.net.\t30\tIN\tNAPTR\t10 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.tpa1.voice.example.net.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dns zone lacks %q:\n%s", want, out)
		}
	}
	var v service.ZoneView
	if err := json.Unmarshal([]byte(mustRun(t, "dns", "zone", "--data-dir", dir, "--domain", "Phones.Corp.Example", "-o", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Domain != "phones.corp.example." || v.Live || len(v.Records) < 20 || v.Serial == 0 {
		t.Fatalf("json: %+v", v)
	}
	_, errs, code := pbxtopo(t, "dns", "zone", "--data-dir", dir, "--domain", "bad..name")
	if code != 1 || !strings.Contains(errs, "--domain: \"bad..name\" is not a domain name") {
		t.Fatalf("bad domain: exit %d, %s", code, errs)
	}
	if _, errs, code := pbxtopo(t, "dns", "zone", "--data-dir", dir, "-o", "csv"); code != 1 || !strings.Contains(errs, "use -o table or -o json") {
		t.Fatalf("csv: exit %d, %s", code, errs)
	}
}

func TestDNSZoneFromAgent(t *testing.T) {
	dir := sampleStore(t)
	cfg := store.DefaultConfig(filepath.Join(dir, "store.db"))
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	health := srv.NewStaticHealth("tpa2")
	dcfg := srv.DefaultConfig()
	dcfg.Addr = "127.0.0.1:0"
	s, err := srv.New(dcfg, srv.Deps{Source: st, Health: health})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc := service.NewService(st)
	svc.UseDNS(s, nil)
	hs := httptest.NewServer(httpapi.Handler(svc, nil))
	defer hs.Close()
	out := mustRun(t, "dns", "zone", "--addr", hs.URL)
	_, serial := s.Zone()
	if !strings.Contains(out, "served now by the agent") || !strings.Contains(out, "; down (left out of the SRV answers): [tpa2]") ||
		strings.Contains(out, "_sip._udp.tpa1.voice.example.net.\t30\tIN\tSRV\t20 0 5060 tpa2") ||
		!strings.Contains(out, " "+strconv.FormatUint(uint64(serial), 10)+" ") {
		t.Fatalf("live zone:\n%s", out)
	}
}
