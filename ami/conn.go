package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Action is a request to Asterisk.
type Action struct {
	Message
	// ListEnd names the events that end this action's list on Asterisk
	// versions whose response does not say "EventList: start" (e.g.
	// DBGetResponse on Asterisk 11). Newer versions end every list with an
	// event carrying "EventList: Complete", which always ends it.
	ListEnd []string
}

// Response is Asterisk's answer to an action: the response message and,
// for list actions, the events of the list (the closing event included).
type Response struct {
	Message
	Events []Message
}

// EventHandler receives every event that is not part of a list answer.
// It is called from the connection's reading goroutine, one event at a
// time: it must not block, and must not wait for an action's answer.
type EventHandler func(Message)

// DialConfig says where and as whom to log in.
type DialConfig struct {
	Addr   string // host:port of the manager interface
	User   string
	Secret string
	// Events is the Login "Events" header: "on" for every class the user
	// may read, "off" for none (an applier needs none).
	Events string
	// Timeout bounds the dial, the greeting and the login.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Conn is one logged-in manager session.
type Conn struct {
	nc      net.Conn
	rd      *Reader
	version string
	onEvent EventHandler
	log     *slog.Logger

	wmu sync.Mutex // serializes writes
	buf []byte

	mu      sync.Mutex
	pending map[string]*pending
	closed  bool
	err     error // why the connection ended

	nextID atomic.Uint64
	prefix string
	done   chan struct{}

	events    atomic.Uint64
	malformed atomic.Uint64
}

type pending struct {
	resp    *Response
	haveRsp bool
	list    bool
	listEnd []string
	done    chan struct{}
}

// Dial connects, reads the greeting, logs in, and starts reading. Wrong
// credentials give an error that wraps ErrAuth.
func Dial(ctx context.Context, cfg DialConfig, onEvent EventHandler) (*Conn, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == "" {
		cfg.Events = "on"
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ami: connect to %s: %w", cfg.Addr, err)
	}
	c := &Conn{nc: nc, rd: NewReader(nc), onEvent: onEvent, log: cfg.Logger,
		pending: map[string]*pending{}, done: make(chan struct{}),
		prefix: strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + "-"}
	deadline, _ := dctx.Deadline()
	nc.SetReadDeadline(deadline)
	c.version, err = c.rd.ReadBanner()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ami: %s: %w", cfg.Addr, err)
	}
	nc.SetReadDeadline(time.Time{})
	go c.readLoop()
	login := Action{Message: NewAction("Login", "Username", cfg.User, "Secret", cfg.Secret, "Events", cfg.Events)}
	if _, err := c.Send(dctx, login); err != nil {
		c.Close()
		var ae *ActionError
		if errors.As(err, &ae) {
			return nil, fmt.Errorf("%w: Asterisk at %s refused user %q: %s (check ami.user and ami.secret against manager.conf)", ErrAuth, cfg.Addr, cfg.User, ae.Message)
		}
		return nil, fmt.Errorf("ami: login to %s: %w", cfg.Addr, err)
	}
	return c, nil
}

// Version is the manager protocol version of the greeting ("7.0.3").
func (c *Conn) Version() string { return c.version }

// Done is closed when the connection ends; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Events returns the number of events handed to the handler.
func (c *Conn) Events() uint64 { return c.events.Load() }

// Malformed returns the number of malformed messages skipped.
func (c *Conn) Malformed() uint64 { return c.malformed.Load() }

// Send sends an action and waits for its answer (and, for a list action,
// the whole list). An "Error" answer returns the response and an
// *ActionError. When ctx ends first, the answer is dropped when it comes.
func (c *Conn) Send(ctx context.Context, a Action) (*Response, error) {
	name := a.Get("Action")
	id := c.prefix + strconv.FormatUint(c.nextID.Add(1), 10)
	a.Message.Headers = append(a.Message.Headers[:len(a.Message.Headers):len(a.Message.Headers)], Header{"ActionID", id})
	p := &pending{resp: &Response{}, listEnd: a.ListEnd, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[id] = p
	c.mu.Unlock()

	c.wmu.Lock()
	c.buf = a.Message.AppendWire(c.buf[:0])
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetWriteDeadline(dl)
	} else {
		c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	}
	_, err := c.nc.Write(c.buf)
	c.wmu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("%w: write %s: %v", ErrClosed, name, err))
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("ami: %s: %w", name, ctx.Err())
	case <-c.done:
		select {
		case <-p.done: // answered just before the end
		default:
			return nil, c.Err()
		}
	}
	if p.resp.IsError() {
		return p.resp, &ActionError{Action: name, Message: p.resp.Get("Message")}
	}
	return p.resp, nil
}

// Close ends the session (without Logoff: closing is enough). Safe to
// call more than once.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	<-c.done
	return nil
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = err
	c.mu.Unlock()
	c.nc.Close()
}

func (c *Conn) readLoop() {
	defer close(c.done)
	for {
		m, err := c.rd.ReadMessage()
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				// One line for the first and then every 1000th: a stream of
				// garbage must not become a stream of log lines.
				if n := c.malformed.Add(1); n == 1 || n%1000 == 0 {
					c.log.Warn("skipped a malformed AMI message", "err", err, "malformed_so_far", n)
				}
				continue
			}
			c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
			c.mu.Lock()
			c.pending = map[string]*pending{}
			c.mu.Unlock()
			return
		}
		c.dispatch(m)
	}
}

// dispatch routes a message: to the action waiting for its ActionID, or to
// the event handler.
func (c *Conn) dispatch(m Message) {
	id := m.ActionID()
	var p *pending
	if id != "" {
		c.mu.Lock()
		p = c.pending[id]
		c.mu.Unlock()
	}
	isResp := m.Response() != "" && m.Event() == ""
	switch {
	case p == nil && isResp:
		return // the answer to an action whose caller gave up
	case p == nil:
		if id != "" && strings.HasPrefix(id, c.prefix) {
			return // a late list item of an abandoned action
		}
		c.events.Add(1)
		if c.onEvent != nil {
			c.onEvent(m)
		}
		return
	}
	finished := false
	if isResp {
		if p.haveRsp {
			c.log.Warn("duplicate AMI response ignored", "action_id", id)
			return
		}
		p.haveRsp = true
		p.resp.Message = m
		p.list = strings.EqualFold(m.Get("EventList"), "start") ||
			(len(p.listEnd) > 0 && !m.IsError() && strings.Contains(strings.ToLower(m.Get("Message")), "follow"))
		finished = !p.list || m.IsError()
		// Items that came before their response (out of order) are kept.
		if p.list && len(p.resp.Events) > 0 && listEnded(p.resp.Events[len(p.resp.Events)-1], p.listEnd) {
			finished = true
		}
	} else {
		p.resp.Events = append(p.resp.Events, m)
		finished = p.haveRsp && p.list && listEnded(m, p.listEnd)
	}
	if finished {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		close(p.done)
	}
}

func listEnded(ev Message, ends []string) bool {
	if strings.EqualFold(ev.Get("EventList"), "Complete") || strings.EqualFold(ev.Get("EventList"), "Cancelled") {
		return true
	}
	name := ev.Event()
	for _, e := range ends {
		if strings.EqualFold(name, e) {
			return true
		}
	}
	return false
}
