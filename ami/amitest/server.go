// Package amitest is a scripted Asterisk Manager Interface server on a
// real TCP socket, for tests and benchmarks: it greets, checks logins,
// answers actions with handlers a test registers, and sends events,
// malformed bytes and disconnects when the test says so. Its request
// parser is its own, so it does not share the bugs of the client's.
package amitest

import (
	"bufio"
	"net"
	"strings"
	"sync"

	"github.com/pbxtopo/pbxtopo/ami"
)

// Handler answers one action on a session.
type Handler func(s *Session, req ami.Message)

// Server is a scripted AMI server on 127.0.0.1.
type Server struct {
	Addr string

	ln       net.Listener
	mu       sync.Mutex
	version  string
	user     string
	secret   string
	handlers map[string]Handler
	sessions map[*Session]bool
	logins   int
	refused  int
	actions  map[string]int
	wg       sync.WaitGroup
}

// NewServer listens on a free port of 127.0.0.1 and accepts user/secret.
func NewServer(user, secret string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, version: "7.0.3", user: user, secret: secret,
		handlers: map[string]Handler{}, sessions: map[*Session]bool{}, actions: map[string]int{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// SetVersion sets the protocol version of the greeting.
func (s *Server) SetVersion(v string) { s.mu.Lock(); s.version = v; s.mu.Unlock() }

// SetSecret changes the accepted secret.
func (s *Server) SetSecret(secret string) { s.mu.Lock(); s.secret = secret; s.mu.Unlock() }

// Handle sets the handler of an action (case-insensitive).
func (s *Server) Handle(action string, h Handler) {
	s.mu.Lock()
	s.handlers[strings.ToLower(action)] = h
	s.mu.Unlock()
}

// Logins returns the accepted and the refused logins so far.
func (s *Server) Logins() (ok, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.refused
}

// Actions returns how often an action was received.
func (s *Server) Actions(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.actions[strings.ToLower(action)]
}

// Sessions returns the logged-in sessions.
func (s *Server) Sessions() []*Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Session
	for ss := range s.sessions {
		if ss.authed {
			out = append(out, ss)
		}
	}
	return out
}

// Broadcast sends an event to every logged-in session.
func (s *Server) Broadcast(m ami.Message) {
	for _, ss := range s.Sessions() {
		ss.Send(m)
	}
}

// BroadcastRaw sends bytes as they are to every logged-in session.
func (s *Server) BroadcastRaw(text string) {
	for _, ss := range s.Sessions() {
		ss.Raw(text)
	}
}

// DropAll closes every session, as an Asterisk restart does.
func (s *Server) DropAll() {
	s.mu.Lock()
	var all []*Session
	for ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.Close()
	}
}

// Close stops the server and ends every session.
func (s *Server) Close() {
	s.ln.Close()
	s.DropAll()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		ss := &Session{srv: s, c: c, w: bufio.NewWriter(c)}
		s.mu.Lock()
		s.sessions[ss] = true
		v := s.version
		s.mu.Unlock()
		ss.Raw("Asterisk Call Manager/" + v + "\r\n")
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ss.serve()
			s.mu.Lock()
			delete(s.sessions, ss)
			s.mu.Unlock()
		}()
	}
}

// Session is one client connection.
type Session struct {
	srv    *Server
	c      net.Conn
	wmu    sync.Mutex
	w      *bufio.Writer
	authed bool
}

// Send writes one message.
func (ss *Session) Send(m ami.Message) {
	ss.Raw(string(m.AppendWire(nil)))
}

// Raw writes bytes as they are.
func (ss *Session) Raw(text string) {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	ss.w.WriteString(text)
	ss.w.Flush()
}

// Close ends the session.
func (ss *Session) Close() { ss.c.Close() }

// Reply answers req with "Response: Success", its ActionID and kv.
func (ss *Session) Reply(req ami.Message, kv ...string) {
	ss.Send(Response(req, "Success", kv...))
}

// Error answers req with "Response: Error" and a message.
func (ss *Session) Error(req ami.Message, msg string) {
	ss.Send(Response(req, "Error", "Message", msg))
}

// List answers req the way Asterisk 12+ answers list actions: a Success
// with "EventList: start", the items (each with the ActionID), and the
// complete event with "EventList: Complete" and ListItems.
func (ss *Session) List(req ami.Message, items []ami.Message, complete string) {
	ss.Send(Response(req, "Success", "EventList", "start", "Message", "Entries will follow"))
	for _, it := range items {
		it.Set("ActionID", req.ActionID())
		ss.Send(it)
	}
	ss.Send(M("Event", complete, "ActionID", req.ActionID(), "EventList", "Complete", "ListItems", itoa(len(items))))
}

// Response builds a response to req.
func Response(req ami.Message, kind string, kv ...string) ami.Message {
	m := M("Response", kind)
	if id := req.ActionID(); id != "" {
		m.Headers = append(m.Headers, ami.Header{Key: "ActionID", Value: id})
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Headers = append(m.Headers, ami.Header{Key: kv[i], Value: kv[i+1]})
	}
	return m
}

// M builds a message from key/value pairs.
func M(kv ...string) ami.Message {
	var m ami.Message
	for i := 0; i+1 < len(kv); i += 2 {
		m.Headers = append(m.Headers, ami.Header{Key: kv[i], Value: kv[i+1]})
	}
	return m
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// serve reads requests: "Key: Value" lines up to a blank line.
func (ss *Session) serve() {
	defer ss.c.Close()
	r := bufio.NewReader(ss.c)
	var req ami.Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			k, v, _ := strings.Cut(line, ":")
			req.Headers = append(req.Headers, ami.Header{Key: k, Value: strings.TrimPrefix(v, " ")})
			continue
		}
		if len(req.Headers) == 0 {
			continue
		}
		if !ss.handle(req) {
			return
		}
		req = ami.Message{}
	}
}

func (ss *Session) handle(req ami.Message) bool {
	s := ss.srv
	action := strings.ToLower(req.Get("Action"))
	s.mu.Lock()
	s.actions[action]++
	user, secret := s.user, s.secret
	h := s.handlers[action]
	s.mu.Unlock()
	switch {
	case action == "login":
		if req.Get("Username") != user || req.Get("Secret") != secret {
			s.mu.Lock()
			s.refused++
			s.mu.Unlock()
			ss.Error(req, "Authentication failed")
			return false // Asterisk ends the session
		}
		s.mu.Lock()
		s.logins++
		ss.authed = true
		s.mu.Unlock()
		ss.Reply(req, "Message", "Authentication accepted")
		ss.Send(M("Event", "FullyBooted", "Privilege", "system,all", "Status", "Fully Booted"))
		return true
	case action == "logoff":
		ss.Send(Response(req, "Goodbye", "Message", "Thanks for all the fish."))
		return false
	case !ss.authed:
		ss.Error(req, "Permission denied")
		return true
	case h != nil:
		h(ss, req)
		return true
	}
	ss.Error(req, "Invalid/unknown command: "+req.Get("Action")+". Use Action: ListCommands to show available commands.")
	return true
}
