package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// AMI measures the status collector: events per second from a scripted
// Asterisk over TCP into the store (anchor: reading and parsing the same
// stream with nothing done with the events), and the bytes of status
// entries one flapping phone writes per minute with and without
// coalescing (the replication traffic it would cause).
func AMI(ctx context.Context, env Env) ([]Result, error) {
	nEvents, nExt := 200_000, 2_000
	if env.Quick {
		nEvents, nExt = 20_000, 200
	}
	env.Param("events", nEvents)
	env.Param("extensions", nExt)
	st, err := store.Open(storeConfig(filepath.Join(env.Dir, "ami.db")))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := seedCluster(ctx, st, nExt); err != nil {
		return nil, err
	}
	stream := eventStream(nEvents, nExt)

	parseRate, err := streamRate(ctx, stream, nEvents, nil)
	if err != nil {
		return nil, err
	}
	collectRate, err := streamRate(ctx, stream, nEvents, st)
	if err != nil {
		return nil, err
	}
	out := []Result{
		{Name: "AMI events read and parsed over TCP (no store)", Value: parseRate, Unit: "events/s"},
		{Name: fmt.Sprintf("AMI events applied into the store (%d extensions, 5 s flush)", nExt), Value: collectRate,
			Unit: "events/s", Anchor: "AMI events read and parsed", AnchorValue: parseRate, Goal: ">= 20000 events/s"},
	}
	flap, err := flappingPhone(ctx, env)
	return append(out, flap...), err
}

// seedCluster writes cluster c00 with n extensions.
func seedCluster(ctx context.Context, st *store.Store, n int) error {
	muts := []store.Mutation{{Table: "clusters", Key: "c00", Value: pbx.Fields{"name": "c00", "site": "s00", "voice_vip": "127.0.0.1"}.AppendBinary(nil)}}
	for i := range n {
		ext := strconv.Itoa(10000 + i)
		muts = append(muts, store.Mutation{Table: "extensions", Key: "c00/" + ext,
			Value: pbx.Fields{"cluster": "c00", "regexten": ext, "name": "User " + ext, "mailbox": ext}.AppendBinary(nil)})
	}
	_, err := st.Write(ctx, "bench", muts)
	return err
}

// eventStream returns n events about n extensions, the mix of a busy
// site: qualifies, registrations, hints, device and queue states,
// voicemail.
func eventStream(n, nExt int) []byte {
	var b []byte
	for i := range n {
		ext := strconv.Itoa(10000 + i%nExt)
		var m ami.Message
		switch i % 6 {
		case 0:
			m = amitest.M("Event", "ContactStatus", "Privilege", "system,all", "URI", "sip:"+ext+"@10.0.0.5:5060", "ContactStatus", "Reachable",
				"AOR", ext, "EndpointName", ext, "RoundtripUsec", strconv.Itoa(10000+i%7000))
		case 1:
			m = amitest.M("Event", "PeerStatus", "Privilege", "system,all", "ChannelType", "PJSIP", "Peer", "PJSIP/"+ext, "PeerStatus", "Reachable")
		case 2:
			m = amitest.M("Event", "ExtensionStatus", "Privilege", "call,all", "Exten", ext, "Context", "default", "Hint", "PJSIP/"+ext,
				"Status", strconv.Itoa(i%2), "StatusText", "Idle")
		case 3:
			m = amitest.M("Event", "DeviceStateChange", "Privilege", "call,all", "Device", "PJSIP/"+ext, "State", "INUSE")
		case 4:
			m = amitest.M("Event", "QueueMemberStatus", "Privilege", "agent,all", "Queue", "sales", "MemberName", "User "+ext,
				"Interface", "PJSIP/"+ext, "StateInterface", "PJSIP/"+ext, "Membership", "dynamic", "Penalty", "0", "CallsTaken", "3",
				"LastCall", "0", "LastPause", "0", "LoginTime", "0", "InCall", strconv.Itoa(i%2), "Status", "2", "Paused", "0",
				"PausedReason", "", "Ringinuse", "0", "Wrapuptime", "0")
		default:
			m = amitest.M("Event", "MessageWaiting", "Privilege", "call,all", "Mailbox", ext+"@default", "Waiting", "1",
				"New", strconv.Itoa(i%5), "Old", "2")
		}
		b = m.AppendWire(b)
	}
	return b
}

// streamRate sends stream from a scripted Asterisk and returns the events
// per second until the last is handled (and, with a store, written).
func streamRate(ctx context.Context, stream []byte, n int, st *store.Store) (float64, error) {
	srv, err := amitest.NewServer("bench", "bench")
	if err != nil {
		return 0, err
	}
	defer srv.Close()
	cc := ami.DefaultClientConfig()
	cc.Addr, cc.User, cc.Secret = srv.Addr, "bench", "bench"
	var handled func() uint64
	var flush func() error
	var run func(context.Context) error
	if st == nil {
		var conn atomic.Pointer[ami.Conn]
		c := ami.NewClient(cc, ami.ClientHooks{OnConnect: func(cn *ami.Conn) { conn.Store(cn) }}, nil)
		run = c.Run
		handled = func() uint64 {
			if cn := conn.Load(); cn != nil {
				return cn.Events()
			}
			return 0
		}
		flush = func() error { return nil }
	} else {
		cfg := ami.DefaultConfig("c00", "bench")
		cfg.VIP, cfg.CallForwardFamily = "off", ""
		col, err := ami.New(cfg, cc, ami.Deps{Store: st})
		if err != nil {
			return 0, err
		}
		run = col.Run
		handled = func() uint64 { s := col.Stats(); return s.Events + s.Ignored }
		flush = func() error { _, err := col.Flush(ctx); return err }
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(rctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	// Logged in (the parse-only client has seen FullyBooted) and, for the
	// collector, the first refresh done.
	for len(srv.Sessions()) == 0 || (st == nil && handled() == 0) || (st != nil && srv.Actions("SIPshowregistry") == 0) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the collector did not log in and refresh")
		}
		time.Sleep(time.Millisecond)
	}
	base := handled()
	start := time.Now()
	srv.BroadcastRaw(string(stream))
	for handled()-base < uint64(n) {
		if time.Since(start) > 2*time.Minute {
			return 0, fmt.Errorf("only %d of %d events handled", handled()-base, n)
		}
		time.Sleep(200 * time.Microsecond)
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// flappingPhone replays one minute of a phone whose qualify flaps every
// second (reachable with a new round trip, then unreachable) and which
// re-registers from a new port every 10 s, on a simulated clock; it counts
// the bytes (key and value) of the status entries written, flushing after
// every event (no coalescing) or every 5 s.
func flappingPhone(ctx context.Context, env Env) ([]Result, error) {
	bytesPerMinute := func(flush time.Duration, name string) (float64, error) {
		st, err := store.Open(storeConfig(filepath.Join(env.Dir, name+".db")))
		if err != nil {
			return 0, err
		}
		defer st.Close()
		if err := seedCluster(ctx, st, 10); err != nil {
			return 0, err
		}
		counter := &countingStatus{Store: st}
		now := time.Unix(1_800_000_000, 0)
		cfg := ami.DefaultConfig("c00", "bench")
		cfg.VIP, cfg.Flush = "off", flush
		col, err := ami.New(cfg, ami.ClientConfig{}, ami.Deps{Store: counter, AMI: connectedSender{}, Now: func() time.Time { return now }})
		if err != nil {
			return 0, err
		}
		col.Refresh(ctx)
		if _, err := col.Flush(ctx); err != nil {
			return 0, err
		}
		counter.bytes = 0
		lastFlush := now
		for sec := range 60 {
			now = now.Add(time.Second)
			if sec%10 == 0 {
				col.HandleEvent(amitest.M("Event", "ContactStatus", "URI", fmt.Sprintf("sip:10000@10.0.0.5:%d", 5060+sec), "ContactStatus", "Created",
					"AOR", "10000", "EndpointName", "10000"))
			}
			status, usec := "Unreachable", ""
			if sec%2 == 0 {
				status, usec = "Reachable", strconv.Itoa(20000+sec*1500)
			}
			col.HandleEvent(amitest.M("Event", "ContactStatus", "URI", fmt.Sprintf("sip:10000@10.0.0.5:%d", 5060+sec/10*10), "ContactStatus", status,
				"AOR", "10000", "EndpointName", "10000", "RoundtripUsec", usec))
			if flush == 0 || now.Sub(lastFlush) >= flush {
				if _, err := col.Flush(ctx); err != nil {
					return 0, err
				}
				lastFlush = now
			}
		}
		return float64(counter.bytes), nil
	}
	raw, err := bytesPerMinute(0, "flap-raw")
	if err != nil {
		return nil, err
	}
	coalesced, err := bytesPerMinute(5*time.Second, "flap-coalesced")
	if err != nil {
		return nil, err
	}
	return []Result{
		{Name: "status bytes per flapping phone per minute, no coalescing", Value: raw, Unit: "bytes/min"},
		{Name: "status bytes per flapping phone per minute, 5 s coalescing", Value: coalesced, Unit: "bytes/min",
			Anchor: "no coalescing", AnchorValue: raw, Note: "a flap every second; ratio below 1 is the saving"},
	}, nil
}

// countingStatus counts the bytes of status entries written.
type countingStatus struct {
	*store.Store
	bytes int
}

func (c *countingStatus) PutStatus(ctx context.Context, e map[string][]byte) error {
	for k, v := range e {
		c.bytes += len(k) + len(v)
	}
	return c.Store.PutStatus(ctx, e)
}

// connectedSender says it is connected and answers nothing.
type connectedSender struct{}

func (connectedSender) Send(context.Context, ami.Action) (*ami.Response, error) {
	return nil, ami.ErrNotConnected
}
func (connectedSender) State() ami.ConnState { return ami.ConnState{State: ami.StateConnected} }
