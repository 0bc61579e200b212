package ami_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// openStore returns a store of replica tpa1 holding the cluster, three
// extensions (5020 on PJSIP, 5021 on chan_sip, 5022 never registered) and
// two registering trunks.
func openStore(t testing.TB, sipPort string) *store.Store {
	t.Helper()
	cfg := store.DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
	cfg.Replica = "tpa1"
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	put := func(table, key string, f pbx.Fields) store.Mutation {
		return store.Mutation{Table: table, Key: key, Value: f.AppendBinary(nil)}
	}
	muts := []store.Mutation{
		put("sites", "tpa", pbx.Fields{"name": "tpa"}),
		put("clusters", "tpa1", pbx.Fields{"name": "tpa1", "site": "tpa", "voice_vip": "127.0.0.1", "sip_port": sipPort}),
		put("extensions", "tpa1/5020", pbx.Fields{"cluster": "tpa1", "regexten": "5020", "name": "Kate Campbell", "mailbox": "5020", "protocol": "PJSIP"}),
		put("extensions", "tpa1/5021", pbx.Fields{"cluster": "tpa1", "regexten": "5021", "name": "Harry Jones", "mailbox": "5021@sales", "defaultuser": "harry"}),
		put("extensions", "tpa1/5022", pbx.Fields{"cluster": "tpa1", "regexten": "5022", "name": "Nobody"}),
		put("extensions", "tpa2/5020", pbx.Fields{"cluster": "tpa2", "regexten": "5020", "name": "Other Cluster"}),
		put("trunks", "tpa1/talktalk", pbx.Fields{"cluster": "tpa1", "name": "talktalk", "host": "172.20.15.1", "register": "yes", "protocol": "SIP"}),
		put("trunks", "tpa1/bt", pbx.Fields{"cluster": "tpa1", "name": "bt", "host": "sip.bt.example", "register": "yes", "protocol": "PJSIP"}),
	}
	if _, err := st.Write(context.Background(), "test", muts); err != nil {
		t.Fatal(err)
	}
	return st
}

// asterisk is a scripted Asterisk with the state of the fixture's phones.
type asterisk struct {
	*amitest.Server
	mu  sync.Mutex
	old bool // Asterisk 11 names (Location, Reason, QueueMemberPaused)
}

func newAsterisk(t *testing.T) *asterisk {
	a := &asterisk{Server: newServer(t)}
	m := amitest.M
	a.Handle("PJSIPShowContacts", func(s *amitest.Session, req ami.Message) {
		if a.isOld() {
			s.Error(req, "Invalid/unknown command: PJSIPShowContacts. Use Action: ListCommands to show available commands.")
			return
		}
		s.List(req, []ami.Message{
			m("Event", "ContactList", "ObjectType", "contact", "ObjectName", "5020;@abc", "Endpoint", "5020",
				"Uri", "sip:5020@10.0.0.5:5060;ob", "UserAgent", "Yealink SIP-T46S", "ExpirationTime", "1900000000",
				"Status", "Reachable", "RoundtripUsec", "12345", "RegServer", "ast1"),
			m("Event", "ContactList", "ObjectType", "contact", "ObjectName", "bt;@x", "Endpoint", "bt",
				"Uri", "sip:sip.bt.example", "Status", "Reachable", "RoundtripUsec", "30000"),
			m("Event", "ContactList", "ObjectType", "contact", "ObjectName", "9999;@y", "Endpoint", "9999", "Uri", "sip:9999@10.9.9.9"),
		}, "ContactListComplete")
	})
	a.Handle("SIPpeers", func(s *amitest.Session, req ami.Message) {
		s.List(req, []ami.Message{
			m("Event", "PeerEntry", "Channeltype", "SIP", "ObjectName", "harry", "IPaddress", "10.0.0.6", "IPport", "5062", "Status", "OK (7 ms)"),
			m("Event", "PeerEntry", "Channeltype", "SIP", "ObjectName", "5022", "IPaddress", "-none-", "IPport", "0", "Status", "UNKNOWN"),
			m("Event", "PeerEntry", "Channeltype", "SIP", "ObjectName", "talktalk", "IPaddress", "172.20.15.1", "IPport", "5060", "Status", "OK (20 ms)"),
		}, "PeerlistComplete")
	})
	a.Handle("SIPshowpeer", func(s *amitest.Session, req ami.Message) {
		if req.Get("Peer") != "harry" {
			s.Error(req, "Peer "+req.Get("Peer")+" not found.")
			return
		}
		s.Reply(req, "Channeltype", "SIP", "ObjectName", "harry", "SIP-Useragent", "Cisco/SPA504G-7.6.2",
			"RegExpire", "3587 seconds", "Reg-Contact", "sip:harry@10.0.0.6:5062", "Status", "OK (7 ms)")
	})
	a.Handle("ExtensionStateList", func(s *amitest.Session, req ami.Message) {
		s.List(req, []ami.Message{
			m("Event", "ExtensionStatus", "Exten", "5020", "Context", "default", "Hint", "PJSIP/5020", "Status", "1", "StatusText", "InUse"),
			m("Event", "ExtensionStatus", "Exten", "5021", "Context", "default", "Hint", "SIP/harry", "Status", "0", "StatusText", "Idle"),
		}, "ExtensionStateListComplete")
	})
	a.Handle("QueueStatus", func(s *amitest.Session, req ami.Message) {
		reason := "PausedReason"
		if a.isOld() {
			reason = "Reason"
		}
		s.List(req, []ami.Message{
			m("Event", "QueueParams", "Queue", "sales", "Max", "0"),
			m("Event", "QueueMember", "Queue", "sales", "Name", "Kate", "Location", "PJSIP/5020", "StateInterface", "PJSIP/5020",
				"Status", "1", "Paused", "1", reason, "lunch", "InCall", "0"),
			m("Event", "QueueMember", "Queue", "support", "Name", "Kate", "Location", "PJSIP/5020", "Status", "1", "Paused", "0", "InCall", "0"),
			m("Event", "QueueMember", "Queue", "support", "Name", "Harry", "Location", "SIP/harry", "Status", "1", "Paused", "0", "InCall", "0"),
		}, "QueueStatusComplete")
	})
	a.Handle("MailboxCount", func(s *amitest.Session, req ami.Message) {
		counts := map[string][2]string{"5020@default": {"2", "5"}, "5021@sales": {"0", "1"}}
		c, ok := counts[req.Get("Mailbox")]
		if !ok {
			c = [2]string{"0", "0"}
		}
		s.Reply(req, "Message", "Mailbox Message Count", "Mailbox", req.Get("Mailbox"), "UrgMessages", "0", "NewMessages", c[0], "OldMessages", c[1])
	})
	a.Handle("DBGet", func(s *amitest.Session, req ami.Message) {
		if req.Get("Family") == "CF" && req.Get("Key") == "5020" {
			if a.isOld() {
				s.Reply(req, "Message", "Result will follow")
				s.Send(m("Event", "DBGetResponse", "ActionID", req.ActionID(), "Family", "CF", "Key", "5020", "Val", "0044123"))
				return
			}
			s.List(req, []ami.Message{m("Event", "DBGetResponse", "Family", "CF", "Key", "5020", "Val", "0044123")}, "DBGetComplete")
			return
		}
		s.Error(req, "Database entry not found")
	})
	a.Handle("PJSIPShowRegistrationsOutbound", func(s *amitest.Session, req ami.Message) {
		if a.isOld() {
			s.Error(req, "Invalid/unknown command: PJSIPShowRegistrationsOutbound.")
			return
		}
		s.List(req, []ami.Message{m("Event", "OutboundRegistrationDetail", "ObjectName", "bt-reg", "ServerUri", "sip:sip.bt.example",
			"ClientUri", "sip:0113@sip.bt.example", "Status", "Registered")}, "OutboundRegistrationDetailComplete")
	})
	a.Handle("SIPshowregistry", func(s *amitest.Session, req ami.Message) {
		s.List(req, []ami.Message{m("Event", "RegistryEntry", "Host", "172.20.15.1", "Port", "5060", "Username", "0113",
			"State", "Registered", "RegistrationTime", "1700000000")}, "RegistrationsComplete")
	})
	return a
}

func (a *asterisk) isOld() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.old }

// sipResponder answers every SIP request on a UDP port of 127.0.0.1 with
// 200 OK: the voice VIP.
func sipResponder(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var callID string
			for _, l := range strings.Split(string(buf[:n]), "\r\n") {
				if strings.HasPrefix(strings.ToLower(l), "call-id:") {
					callID = l
				}
			}
			pc.WriteTo([]byte("SIP/2.0 200 OK\r\n"+callID+"\r\nContent-Length: 0\r\n\r\n"), from)
		}
	}()
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	return port
}

// extStatus returns the merged status of one extension of tpa1.
func extStatus(t *testing.T, st *store.Store, ext string) pbx.Fields {
	t.Helper()
	var f pbx.Fields
	st.View(func(sn *store.Snapshot) error {
		all, err := ami.Extensions(sn, "tpa1")
		if err != nil {
			t.Fatal(err)
		}
		f = all["tpa1/"+ext].Fields
		return nil
	})
	return f
}

func statusEntries(t *testing.T, st *store.Store, prefix string) map[string][]byte {
	t.Helper()
	var out map[string][]byte
	st.View(func(sn *store.Snapshot) error {
		var err error
		out, err = ami.SnapshotStatus(sn, prefix)
		return err
	})
	return out
}

func testConfig(node string) ami.Config {
	cfg := ami.DefaultConfig("tpa1", node)
	cfg.Refresh, cfg.Flush, cfg.Heartbeat = time.Hour, 10*time.Millisecond, time.Hour
	return cfg
}

func clientConfig(srv *amitest.Server) ami.ClientConfig {
	cc := ami.DefaultClientConfig()
	cc.Addr, cc.User, cc.Secret = srv.Addr, "pbxtopo", "s3cret"
	cc.MinBackoff, cc.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	return cc
}

// runCollector runs a collector until the test ends.
func runCollector(t *testing.T, c *ami.Collector) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
	})
}
