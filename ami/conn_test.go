package ami_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/ami"
	"github.com/pbxtopo/pbxtopo/ami/amitest"
)

func newServer(t *testing.T) *amitest.Server {
	t.Helper()
	srv, err := amitest.NewServer("pbxtopo", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// events collects events from a handler, safely.
type events struct {
	mu   sync.Mutex
	list []ami.Message
}

func (e *events) add(m ami.Message) { e.mu.Lock(); e.list = append(e.list, m); e.mu.Unlock() }

func (e *events) names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, m := range e.list {
		out = append(out, m.Event())
	}
	return out
}

func dial(t *testing.T, srv *amitest.Server, ev *events) *ami.Conn {
	t.Helper()
	var h ami.EventHandler
	if ev != nil {
		h = ev.add
	}
	c, err := ami.Dial(context.Background(), ami.DialConfig{Addr: srv.Addr, User: "pbxtopo", Secret: "s3cret", Timeout: 5 * time.Second}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLoginAndPing(t *testing.T) {
	srv := newServer(t)
	srv.SetVersion("2.10.6")
	srv.Handle("Ping", func(s *amitest.Session, req ami.Message) { s.Reply(req, "Ping", "Pong") })
	ev := &events{}
	c := dial(t, srv, ev)
	if c.Version() != "2.10.6" {
		t.Fatalf("version %q", c.Version())
	}
	resp, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("Ping")})
	if err != nil || resp.Get("Ping") != "Pong" {
		t.Fatalf("ping: %v %v", resp, err)
	}
	eventually(t, "FullyBooted after login", func() bool { return len(ev.names()) == 1 && ev.names()[0] == "FullyBooted" })
}

func TestWrongCredentials(t *testing.T) {
	srv := newServer(t)
	_, err := ami.Dial(ctxT(t), ami.DialConfig{Addr: srv.Addr, User: "pbxtopo", Secret: "wrong"}, nil)
	if !errors.Is(err, ami.ErrAuth) || !strings.Contains(err.Error(), "ami.secret") {
		t.Fatalf("err = %v, want ErrAuth naming the setting", err)
	}
}

func TestNotAManagerPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			c.Close()
		}
	}()
	_, err = ami.Dial(ctxT(t), ami.DialConfig{Addr: ln.Addr().String(), User: "u"}, nil)
	if !errors.Is(err, ami.ErrProtocol) || !strings.Contains(err.Error(), "manager port") {
		t.Fatalf("err = %v, want a protocol error naming the manager port", err)
	}
}

func TestListAnswerWithInterleavedAndOutOfOrderMessages(t *testing.T) {
	srv := newServer(t)
	srv.Handle("QueueStatus", func(s *amitest.Session, req ami.Message) {
		id := req.ActionID()
		// An item before its response, an unrelated event in the middle.
		s.Send(amitest.M("Event", "QueueMember", "ActionID", id, "Queue", "sales", "Name", "early"))
		s.Send(amitest.Response(req, "Success", "EventList", "start", "Message", "Queue status will follow"))
		s.Send(amitest.M("Event", "PeerStatus", "Peer", "SIP/5020", "PeerStatus", "Registered"))
		s.Send(amitest.M("Event", "QueueMember", "ActionID", id, "Queue", "sales", "Name", "late"))
		s.Send(amitest.M("Event", "QueueStatusComplete", "ActionID", id, "EventList", "Complete", "ListItems", "2"))
	})
	ev := &events{}
	c := dial(t, srv, ev)
	resp, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("QueueStatus")})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Events) != 3 || resp.Events[0].Get("Name") != "early" || resp.Events[2].Event() != "QueueStatusComplete" {
		t.Fatalf("list = %v", resp.Events)
	}
	eventually(t, "the unrelated event to reach the handler", func() bool {
		n := ev.names()
		return len(n) == 2 && n[1] == "PeerStatus"
	})
}

func TestConcurrentActionsAnsweredInReverse(t *testing.T) {
	srv := newServer(t)
	var mu sync.Mutex
	var held []ami.Message
	srv.Handle("Echo", func(s *amitest.Session, req ami.Message) {
		mu.Lock()
		held = append(held, req)
		if len(held) == 2 { // answer the second first
			s.Reply(held[1], "Said", held[1].Get("Say"))
			s.Reply(held[0], "Said", held[0].Get("Say"))
		}
		mu.Unlock()
	})
	c := dial(t, srv, nil)
	var wg sync.WaitGroup
	got := make([]string, 2)
	for i, say := range []string{"one", "two"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("Echo", "Say", say)})
			if err == nil {
				got[i] = resp.Get("Said")
			}
		}()
	}
	wg.Wait()
	if got[0] != "one" || got[1] != "two" {
		t.Fatalf("answers matched wrongly: %v", got)
	}
}

func TestMalformedAndLateAnswersKeepTheConnection(t *testing.T) {
	srv := newServer(t)
	var slow ami.Message
	var slowSession *amitest.Session
	var mu sync.Mutex
	srv.Handle("Slow", func(s *amitest.Session, req ami.Message) { mu.Lock(); slow, slowSession = req, s; mu.Unlock() })
	srv.Handle("Ping", func(s *amitest.Session, req ami.Message) { s.Reply(req, "Ping", "Pong") })
	ev := &events{}
	c := dial(t, srv, ev)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Send(ctx, ami.Action{Message: ami.NewAction("Slow")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow action: %v", err)
	}
	mu.Lock()
	slowSession.Reply(slow, "Message", "too late")                                                    // dropped
	slowSession.Send(amitest.M("Event", "Item", "ActionID", slow.ActionID()))                         // dropped
	slowSession.Raw("Event: Broken\r\nno colon here\r\n\r\n")                                         // skipped
	slowSession.Raw("Event: " + strings.Repeat("x", 70000) + "\r\n\r\n")                              // skipped
	slowSession.Send(amitest.M("Event", "MessageWaiting", "Mailbox", "5020@default", "Waiting", "1")) // delivered
	mu.Unlock()
	resp, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("Ping")})
	if err != nil || resp.Get("Ping") != "Pong" {
		t.Fatalf("after bad input: %v %v", resp, err)
	}
	eventually(t, "MessageWaiting", func() bool { n := ev.names(); return len(n) == 2 && n[1] == "MessageWaiting" })
	if c.Malformed() != 2 {
		t.Fatalf("malformed = %d, want 2", c.Malformed())
	}
}

func TestDisconnectInTheMiddleOfAList(t *testing.T) {
	srv := newServer(t)
	srv.Handle("PJSIPShowContacts", func(s *amitest.Session, req ami.Message) {
		s.Send(amitest.Response(req, "Success", "EventList", "start"))
		s.Raw("Event: ContactList\r\nActionID: " + req.ActionID() + "\r\nUri: sip:5020@10.0.0.5") // truncated
		s.Close()
	})
	c := dial(t, srv, nil)
	_, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("PJSIPShowContacts")})
	if !errors.Is(err, ami.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	<-c.Done()
	if _, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("Ping")}); !errors.Is(err, ami.ErrClosed) {
		t.Fatalf("send on a closed conn: %v", err)
	}
}

func TestOldVersions(t *testing.T) {
	srv := newServer(t)
	srv.SetVersion("1.1")
	srv.Handle("Command", func(s *amitest.Session, req ami.Message) {
		s.Raw("Response: Follows\r\nPrivilege: Command\r\nActionID: " + req.ActionID() +
			"\r\nModule 'pbx_dundi.so' reloaded successfully.\n--END COMMAND--\r\n\r\n")
	})
	srv.Handle("DBGet", func(s *amitest.Session, req ami.Message) { // Asterisk 11: no EventList
		s.Reply(req, "Message", "Result will follow")
		s.Send(amitest.M("Event", "DBGetResponse", "ActionID", req.ActionID(), "Family", "CF", "Key", "5020", "Val", "0044123"))
	})
	c := dial(t, srv, nil)
	resp, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("Command", "Command", "module reload pbx_dundi.so")})
	if err != nil || len(resp.Text()) != 1 || !strings.Contains(resp.Text()[0], "reloaded successfully") {
		t.Fatalf("command: %+v %v", resp, err)
	}
	resp, err = c.Send(ctxT(t), ami.Action{Message: ami.NewAction("DBGet", "Family", "CF", "Key", "5020"), ListEnd: []string{"DBGetResponse"}})
	if err != nil || len(resp.Events) != 1 || resp.Events[0].Get("Val") != "0044123" {
		t.Fatalf("dbget: %+v %v", resp, err)
	}
}

func TestActionError(t *testing.T) {
	srv := newServer(t)
	c := dial(t, srv, nil)
	_, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("NoSuchThing")})
	var ae *ami.ActionError
	if !errors.As(err, &ae) || !errors.Is(err, ami.ErrActionFailed) || !strings.Contains(ae.Message, "Invalid/unknown command") {
		t.Fatalf("err = %v", err)
	}
}

// logCounter counts log records by level.
type logCounter struct {
	mu     sync.Mutex
	counts map[slog.Level]int
	buf    bytes.Buffer
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[slog.Level]int{}
	}
	l.counts[r.Level]++
	l.buf.WriteString(r.Level.String() + " " + r.Message + "\n")
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }
func (l *logCounter) count(lv slog.Level) int            { l.mu.Lock(); defer l.mu.Unlock(); return l.counts[lv] }

func fastClient(srv *amitest.Server, secret string, hooks ami.ClientHooks, log *slog.Logger) *ami.Client {
	cfg := ami.DefaultClientConfig()
	cfg.Addr, cfg.User, cfg.Secret = srv.Addr, "pbxtopo", secret
	cfg.MinBackoff, cfg.MaxBackoff, cfg.AuthRetry = 5*time.Millisecond, 20*time.Millisecond, time.Hour
	return ami.NewClient(cfg, hooks, log)
}

func TestClientReconnects(t *testing.T) {
	srv := newServer(t)
	var mu sync.Mutex
	connects := 0
	c := fastClient(srv, "s3cret", ami.ClientHooks{OnConnect: func(*ami.Conn) { mu.Lock(); connects++; mu.Unlock() }}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	if err := c.WaitConnected(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	srv.DropAll()
	eventually(t, "a second login", func() bool { ok, _ := srv.Logins(); return ok == 2 && c.State().State == ami.StateConnected })
	if st := c.State(); st.Connects != 2 {
		t.Fatalf("state %+v", st)
	}
	mu.Lock()
	if connects != 2 {
		t.Fatalf("OnConnect ran %d times", connects)
	}
	mu.Unlock()
	cancel()
	<-done
	if c.State().State != ami.StateStopped {
		t.Fatalf("state after stop: %+v", c.State())
	}
	if _, err := c.Send(ctxT(t), ami.Action{Message: ami.NewAction("Ping")}); !errors.Is(err, ami.ErrNotConnected) {
		t.Fatalf("send when stopped: %v", err)
	}
}

func TestClientWrongCredentialsNoRetryStorm(t *testing.T) {
	srv := newServer(t)
	logs := &logCounter{}
	c := fastClient(srv, "wrong", ami.ClientHooks{}, slog.New(logs))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	eventually(t, "auth_failed state", func() bool { return c.State().State == ami.StateAuthFailed })
	// With a backoff of 5 ms a storm would make dozens of attempts here.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, refused := srv.Logins()
	cancel()
	<-done
	if refused != 1 {
		t.Fatalf("%d login attempts with wrong credentials, want 1 until AuthRetry", refused)
	}
	if n := logs.count(slog.LevelError); n != 1 || !strings.Contains(logs.buf.String(), "cannot log in") {
		t.Fatalf("want one error line, got:\n%s", logs.buf.String())
	}
	if st := c.State(); !strings.Contains(st.Error, "ami.secret") {
		t.Fatalf("state error does not say what to fix: %+v", st)
	}
}
