package ami_test

import (
	"context"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

func wantFields(t *testing.T, what string, got pbx.Fields, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
}

func TestCollectorRefreshFillsTheStore(t *testing.T) {
	st := openStore(t, sipResponder(t))
	ast := newAsterisk(t)
	c, err := ami.New(testConfig("ast1"), clientConfig(ast.Server), ami.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	runCollector(t, c)
	eventually(t, "the refresh to reach the store", func() bool {
		return extStatus(t, st, "5020")["cfwdto"] != "" && extStatus(t, st, "5021")["useragent"] != ""
	})
	wantFields(t, "5020", extStatus(t, st, "5020"), map[string]string{
		"regstatus": "registered", "ipaddr": "10.0.0.5", "port": "5060", "useragent": "Yealink SIP-T46S",
		"lastms": "12", "regseconds": "1900000000", "regserver": "ast1", "extstatus": "1",
		"queue": "sales,support", "queuepaused": "sales", "agentstatus": "available",
		"vmunread": "2", "vmold": "5", "cfwdset": "yes", "cfwdto": "0044123", "node": "ast1"})
	wantFields(t, "5021 (chan_sip, found by its defaultuser)", extStatus(t, st, "5021"), map[string]string{
		"regstatus": "registered", "ipaddr": "10.0.0.6", "port": "5062", "useragent": "Cisco/SPA504G-7.6.2",
		"lastms": "7", "contact": "sip:harry@10.0.0.6:5062", "extstatus": "0", "queue": "support", "agentstatus": "available",
		"vmunread": "0", "vmold": "1", "cfwdset": "no"})
	wantFields(t, "5022", extStatus(t, st, "5022"), map[string]string{"regstatus": "unregistered", "ipaddr": ""})
	if f := extStatus(t, st, "5021"); f["regseconds"] == "" {
		t.Errorf("5021 has no expiry: %v", f)
	}
	entries := statusEntries(t, st, "")
	for k := range entries {
		if key, ok := ami.ParseKey(k); !ok || key.Cluster != "tpa1" || key.Node != "ast1" || key.Name == "9999" {
			t.Errorf("unexpected status key %q", k)
		}
	}
	eventually(t, "trunk status", func() bool { // the trunk registrations are the refresh's last step
		for _, name := range []string{"talktalk", "bt"} {
			f, _ := ami.Decode(statusEntries(t, st, "trunk/tpa1/"+name+"/")[ami.TrunkKey("tpa1", name, "ast1")])
			if f["regstatus"] == "" {
				return false
			}
		}
		return true
	})
	for name, want := range map[string]map[string]string{
		"talktalk": {"regstatus": "registered", "reachable": "reachable", "lastms": "20", "state": "available"},
		"bt":       {"regstatus": "registered", "reachable": "reachable", "lastms": "30", "state": "available"},
	} {
		f, err := ami.Decode(statusEntries(t, st, "trunk/tpa1/"+name+"/")[ami.TrunkKey("tpa1", name, "ast1")])
		if err != nil {
			t.Fatal(err)
		}
		wantFields(t, "trunk "+name, f, want)
	}
	eventually(t, "health with the VIP answering", func() bool {
		h := ami.NewHealthView(st, time.Minute, nil).Cluster("tpa1")
		return len(h.Nodes) == 1 && h.Nodes[0].VIPState == "answering" && h.Nodes[0].TrunksUp == 2
	})
	h := ami.NewHealthView(st, time.Minute, nil).Cluster("tpa1")
	n := h.Nodes[0]
	if !h.Up || n.AMI != ami.StateConnected || n.Role != "active" || n.TrunksUp != 2 || n.ExtsRegistered != 2 || n.ExtsTotal != 3 {
		t.Fatalf("health = %+v", h)
	}
}

func TestCollectorEventsBetweenRefreshes(t *testing.T) {
	st := openStore(t, "5060")
	ast := newAsterisk(t)
	cfg := testConfig("ast1")
	cfg.VIP = "off"
	c, err := ami.New(cfg, clientConfig(ast.Server), ami.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	runCollector(t, c)
	eventually(t, "the first refresh", func() bool { return extStatus(t, st, "5020")["cfwdto"] != "" })
	m := amitest.M
	steps := []struct {
		name  string
		ev    ami.Message
		ext   string
		wants map[string]string
	}{
		{"PJSIP contact unreachable", m("Event", "ContactStatus", "URI", "sip:5020@10.0.0.5:5060;ob", "ContactStatus", "Unreachable",
			"AOR", "5020", "EndpointName", "5020"), "5020", map[string]string{"regstatus": "unreachable", "lastms": ""}},
		{"PJSIP contact removed", m("Event", "ContactStatus", "URI", "sip:5020@10.0.0.5:5060;ob", "ContactStatus", "Removed",
			"AOR", "5020", "EndpointName", "5020"), "5020", map[string]string{"regstatus": "unregistered", "ipaddr": "", "regserver": ""}},
		{"PJSIP contact created elsewhere", m("Event", "ContactStatus", "URI", "sip:5020@10.0.0.9:5070", "ContactStatus", "Created",
			"AOR", "5020", "EndpointName", "5020"), "5020", map[string]string{"regstatus": "registered", "ipaddr": "10.0.0.9", "port": "5070"}},
		{"PJSIP contact qualified", m("Event", "ContactStatus", "URI", "sip:5020@10.0.0.9:5070", "ContactStatus", "Reachable",
			"AOR", "5020", "EndpointName", "5020", "RoundtripUsec", "40000"), "5020", map[string]string{"lastms": "40"}},
		{"chan_sip unregistered", m("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/harry", "PeerStatus", "Unregistered", "Cause", "Expired"),
			"5021", map[string]string{"regstatus": "unregistered"}},
		{"chan_sip registered (Address ip:port)", m("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/harry", "PeerStatus", "Registered", "Address", "10.0.0.7:5064"),
			"5021", map[string]string{"regstatus": "registered", "ipaddr": "10.0.0.7", "port": "5064"}},
		{"newer PeerStatus with a Port header", m("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/harry", "PeerStatus", "Reachable", "Address", "10.0.0.8", "Port", "5066", "Time", "9"),
			"5021", map[string]string{"ipaddr": "10.0.0.8", "port": "5066", "lastms": "9"}},
		{"hint state", m("Event", "ExtensionStatus", "Exten", "5021", "Context", "default", "Status", "8", "StatusText", "Ringing"),
			"5021", map[string]string{"extstatus": "8"}},
		{"device state", m("Event", "DeviceStateChange", "Device", "SIP/harry", "State", "RINGING"), "5021", map[string]string{"devicestate": "RINGING"}},
		{"queue member on a call", m("Event", "QueueMemberStatus", "Queue", "support", "MemberName", "Harry", "Interface", "SIP/harry",
			"Status", "2", "Paused", "0", "InCall", "1"), "5021", map[string]string{"agentstatus": "oncall"}},
		{"queue pause with a reason (12+)", m("Event", "QueueMemberPause", "Queue", "support", "Interface", "SIP/harry",
			"Paused", "1", "PausedReason", "training", "InCall", "0", "Status", "1"), "5021", map[string]string{"agentstatus": "paused", "pausereason": "training", "queuepaused": "support"}},
		{"queue pause, Asterisk 11 names", m("Event", "QueueMemberPaused", "Queue", "support", "Location", "SIP/harry",
			"Paused", "1", "Reason", "meeting"), "5021", map[string]string{"pausereason": "meeting"}},
		{"added to a queue", m("Event", "QueueMemberAdded", "Queue", "billing", "Interface", "SIP/harry", "Status", "1", "Paused", "0"),
			"5021", map[string]string{"queue": "billing,support", "agentstatus": "available"}},
		{"removed from a queue", m("Event", "QueueMemberRemoved", "Queue", "support", "Interface", "SIP/harry"),
			"5021", map[string]string{"queue": "billing", "queuepaused": ""}},
		{"voicemail", m("Event", "MessageWaiting", "Mailbox", "5021@sales", "Waiting", "1", "New", "3", "Old", "4"),
			"5021", map[string]string{"vmunread": "3", "vmold": "4"}},
	}
	for _, s := range steps {
		ast.Broadcast(s.ev)
		eventually(t, s.name, func() bool {
			f := extStatus(t, st, s.ext)
			for k, v := range s.wants {
				if f[k] != v {
					return false
				}
			}
			return true
		})
	}
	// Trunks from events.
	ast.Broadcast(m("Event", "Registry", "ChannelType", "SIP", "Username", "0113", "Domain", "172.20.15.1", "Status", "Rejected"))
	eventually(t, "trunk rejected", func() bool {
		f, _ := ami.Decode(statusEntries(t, st, "trunk/tpa1/talktalk/")[ami.TrunkKey("tpa1", "talktalk", "ast1")])
		return f["state"] == "unavailable" && f["regstatus"] == "rejected"
	})
	// Events about phones of no configured extension change nothing.
	before := len(statusEntries(t, st, "ext/"))
	ast.Broadcast(m("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/7777", "PeerStatus", "Registered", "Address", "1.2.3.4:5060"))
	eventually(t, "the ignored event to be counted", func() bool { return c.Stats().Ignored > 0 })
	if after := len(statusEntries(t, st, "ext/")); after != before {
		t.Fatalf("status entries %d → %d after an unknown peer", before, after)
	}
}

func TestCollectorAsterisk11AndReconnect(t *testing.T) {
	st := openStore(t, "5060")
	ast := newAsterisk(t)
	ast.old = true
	ast.SetVersion("1.3")
	cfg := testConfig("ast1")
	cfg.VIP = "off"
	c, err := ami.New(cfg, clientConfig(ast.Server), ami.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	runCollector(t, c)
	eventually(t, "refresh on an old Asterisk", func() bool {
		f := extStatus(t, st, "5020")
		return f["cfwdto"] == "0044123" && f["pausereason"] == "" && f["queuepaused"] == "sales" && extStatus(t, st, "5021")["regstatus"] == "registered"
	})
	// Asterisk 11 has no PJSIPShowContacts: 5020 stays unregistered, and the
	// collector asked only once per refresh.
	if f := extStatus(t, st, "5020"); f["regstatus"] != "unregistered" {
		t.Fatalf("5020 = %v", f)
	}
	// An old MessageWaiting without counts triggers a refresh.
	refreshes := c.Stats().Refreshes
	ast.Broadcast(amitest.M("Event", "MessageWaiting", "Mailbox", "5020@default", "Waiting", "1"))
	eventually(t, "a refresh after a count-less MessageWaiting", func() bool { return c.Stats().Refreshes > refreshes })
	// Asterisk restarts: the collector logs in again and refreshes.
	logins, _ := ast.Logins()
	ast.DropAll()
	eventually(t, "a new login and refresh", func() bool {
		ok, _ := ast.Logins()
		return ok > logins && ast.Actions("QueueStatus") >= 3
	})
	if n := ast.Actions("PJSIPShowContacts"); n != 1 {
		t.Errorf("PJSIPShowContacts asked %d times; a missing action is remembered", n)
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

// countingStore counts the status bytes written.
type countingStore struct {
	*store.Store
	puts, entries, bytes int
}

func (s *countingStore) PutStatus(ctx context.Context, e map[string][]byte) error {
	s.puts++
	for k, v := range e {
		s.entries++
		s.bytes += len(k) + len(v)
	}
	return s.Store.PutStatus(ctx, e)
}

// offline is a Sender that is never connected: events come from the test.
type offline struct{}

func (offline) Send(context.Context, ami.Action) (*ami.Response, error) {
	return nil, ami.ErrNotConnected
}
func (offline) State() ami.ConnState { return ami.ConnState{State: ami.StateConnected} }

func TestCoalescing(t *testing.T) {
	st := &countingStore{Store: openStore(t, "5060")}
	clock := &fakeClock{time.Unix(1_800_000_000, 0)}
	cfg := testConfig("ast1")
	cfg.VIP = "off"
	c, err := ami.New(cfg, ami.ClientConfig{}, ami.Deps{Store: st, AMI: offline{}, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Refresh(ctx); err == nil {
		t.Fatal("refresh while not connected succeeded")
	}
	if _, err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	base := st.entries
	flap := func(reg bool) {
		status := "Unregistered"
		if reg {
			status = "Registered"
		}
		c.HandleEvent(amitest.M("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/5022", "PeerStatus", status, "Address", "10.0.0.22:5060"))
	}
	// 101 flaps between two flushes: one write, with the last state.
	for i := range 101 {
		flap(i%2 == 0)
	}
	clock.t = clock.t.Add(5 * time.Second)
	n, err := c.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the extension and the health entry (its registered count changed)
		t.Fatalf("flush wrote %d entries, want 2", n)
	}
	if f := extStatus(t, st.Store, "5022"); f["regstatus"] != "registered" || f["ipaddr"] != "10.0.0.22" {
		t.Fatalf("5022 = %v, want the last state", f)
	}
	// Flapping back to the written state writes nothing.
	flap(false)
	flap(true)
	if n, _ := c.Flush(ctx); n != 0 {
		t.Fatalf("a flap that ended where it began wrote %d entries", n)
	}
	// Round-trip jitter under the threshold writes nothing; a real change does.
	flap(true)
	c.HandleEvent(amitest.M("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/5022", "PeerStatus", "Reachable", "Time", "20"))
	c.Flush(ctx)
	written := st.entries
	for _, ms := range []string{"22", "18", "23"} {
		c.HandleEvent(amitest.M("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/5022", "PeerStatus", "Reachable", "Time", ms))
		if n, _ := c.Flush(ctx); n != 0 {
			t.Fatalf("lastms %s ms wrote %d entries", ms, n)
		}
	}
	c.HandleEvent(amitest.M("Event", "PeerStatus", "ChannelType", "SIP", "Peer", "SIP/5022", "PeerStatus", "Lagged", "Time", "2500"))
	if n, _ := c.Flush(ctx); n != 1 {
		t.Fatalf("lagged wrote %d entries, want 1", n)
	}
	if f := extStatus(t, st.Store, "5022"); f["regstatus"] != "lagged" || f["lastms"] != "2500" {
		t.Fatalf("5022 = %v", f)
	}
	if st.entries-written != 1 || written <= base {
		t.Fatalf("entries: base %d, written %d, now %d", base, written, st.entries)
	}
	// The heartbeat rewrites health alone.
	clock.t = clock.t.Add(2 * cfg.Heartbeat)
	if n, _ := c.Flush(ctx); n != 1 {
		t.Fatalf("heartbeat wrote %d entries, want 1", n)
	}
	// The change feed hands a replicator what was written.
	all, seq, ok := c.ChangesSince(0)
	if !ok || len(all) != len(statusEntries(t, st.Store, "")) {
		t.Fatalf("changes since 0: ok %v, %d entries, store has %d", ok, len(all), len(statusEntries(t, st.Store, "")))
	}
	if more, next, ok := c.ChangesSince(seq); !ok || len(more) != 0 || next != seq {
		t.Fatalf("changes since %d: %v %d %v", seq, more, next, ok)
	}
}

func TestCollectorRemovesEntriesOfDeletedExtensions(t *testing.T) {
	st := openStore(t, "5060")
	cfg := testConfig("ast1")
	cfg.VIP = "off"
	ctx := context.Background()
	c, err := ami.New(cfg, ami.ClientConfig{}, ami.Deps{Store: st, AMI: offline{}})
	if err != nil {
		t.Fatal(err)
	}
	c.Refresh(ctx)
	c.Flush(ctx)
	if _, ok := statusEntries(t, st, "ext/tpa1/5022/")[ami.ExtKey("tpa1", "5022", "ast1")]; !ok {
		t.Fatal("no entry for 5022")
	}
	if _, err := st.Write(ctx, "test", []store.Mutation{{Table: "extensions", Key: "tpa1/5022"}}); err != nil {
		t.Fatal(err)
	}
	// A new collector (a restart) removes what the old one wrote for 5022.
	c2, _ := ami.New(cfg, ami.ClientConfig{}, ami.Deps{Store: st, AMI: offline{}})
	c2.Refresh(ctx)
	if _, err := c2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e := statusEntries(t, st, "ext/tpa1/5022/"); len(e) != 0 {
		t.Fatalf("5022 still has status: %v", e)
	}
	if e := statusEntries(t, st, "ext/tpa1/5020/"); len(e) != 1 {
		t.Fatalf("5020 lost its status: %v", e)
	}
}

func TestConfigChangeRefreshesOnlyForOwnCluster(t *testing.T) {
	st := openStore(t, "5060")
	ast := newAsterisk(t)
	cfg := testConfig("ast1")
	cfg.VIP = "off"
	c, err := ami.New(cfg, clientConfig(ast.Server), ami.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	runCollector(t, c)
	eventually(t, "the first refresh", func() bool { return c.Stats().Refreshes == 1 })
	ctx := context.Background()
	put := func(key string, f pbx.Fields) {
		if _, err := st.Write(ctx, "test", []store.Mutation{{Table: "extensions", Key: key, Value: f.AppendBinary(nil)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Another cluster's extension: no refresh. This cluster's: a refresh,
	// and the new extension gets status.
	put("tpa2/7000", pbx.Fields{"cluster": "tpa2", "regexten": "7000"})
	put("tpa1/5023", pbx.Fields{"cluster": "tpa1", "regexten": "5023", "name": "New"})
	eventually(t, "a refresh for the new extension", func() bool {
		return c.Stats().Refreshes == 2 && extStatus(t, st, "5023")["regstatus"] == "unregistered"
	})
	put("tpa2/7001", pbx.Fields{"cluster": "tpa2", "regexten": "7001"})
	put("tpa1/5023", pbx.Fields{"cluster": "tpa1", "regexten": "5023", "name": "Renamed"}) // not a name Asterisk uses
	put("tpa1/5024", pbx.Fields{"cluster": "tpa1", "regexten": "5024"})
	eventually(t, "the refresh for 5024", func() bool {
		return c.Stats().Refreshes >= 3 && extStatus(t, st, "5024")["regstatus"] == "unregistered"
	})
	if n := c.Stats().Refreshes; n != 3 {
		t.Fatalf("%d refreshes, want 3 (changes elsewhere or to names Asterisk does not use cause none)", n)
	}
}
