package httpapi

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/service"
)

// connected is an AMI sender that says it is connected and answers
// nothing: the test feeds the collector events itself.
type connected struct{}

func (connected) Send(context.Context, ami.Action) (*ami.Response, error) {
	return nil, ami.ErrNotConnected
}
func (connected) State() ami.ConnState {
	return ami.ConnState{State: ami.StateConnected, Version: "7.0.3"}
}

func TestStatusThroughTheAPI(t *testing.T) {
	svc, st := sampleService(t)
	cfg := ami.DefaultConfig("tpa1", "ast16")
	cfg.VIP = "off" // the sample VIP is a private address: never probed from tests
	col, err := ami.New(cfg, ami.ClientConfig{}, ami.Deps{Store: st, AMI: connected{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	col.Refresh(ctx) // loads the cluster's extensions; the actions fail
	var ev ami.Message
	for _, kv := range [][2]string{{"Event", "PeerStatus"}, {"ChannelType", "SIP"}, {"Peer", "SIP/6101"}, {"PeerStatus", "Registered"}, {"Address", "10.1.1.5:5060"}} {
		ev.Headers = append(ev.Headers, ami.Header{Key: kv[0], Value: kv[1]})
	}
	col.HandleEvent(ev)
	if _, err := col.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(svc, nil))
	defer srv.Close()
	c, _ := NewClient(srv.URL, "")
	for _, api := range []service.StatusAPI{svc, c} {
		rep, err := api.StatusReport(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if rep.Cluster != "tpa1" || rep.Node != "ast16" || rep.Asterisk == nil || rep.Asterisk.State != "connected" || rep.Extensions.Registered != 1 {
			t.Fatalf("%T report: %+v", api, rep)
		}
		rows, err := api.ExtensionStatus(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rows {
			if r["regexten"] == "6101" {
				found = r["regstatus"] == "registered" && r["ipaddr"] == "10.1.1.5" && r["name"] == "Leon Johnstone"
			}
		}
		if !found || len(rows) < 10 {
			t.Fatalf("%T rows: %d, 6101 registered: %v", api, len(rows), found)
		}
	}
}
