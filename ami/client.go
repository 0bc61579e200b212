package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/backoff"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	Addr   string // ami.addr, host:port (Asterisk's default port is 5038)
	User   string // ami.user
	Secret string // ami.secret
	// Events is the Login Events header: "on" (collector) or "off".
	Events string
	// DialTimeout bounds connect, greeting and login.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnects; the
	// wait doubles after each failure and resets after a good login.
	MinBackoff, MaxBackoff time.Duration
	// AuthRetry is the wait after Asterisk refused the credentials: long,
	// because they will not fix themselves, and every refused login costs
	// Asterisk a second and a security log line.
	AuthRetry time.Duration
}

// DefaultClientConfig returns the defaults.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{Addr: "127.0.0.1:5038", Events: "on", DialTimeout: 10 * time.Second,
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, AuthRetry: 5 * time.Minute}
}

// Validate says what is wrong with the settings.
func (c ClientConfig) Validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("%w: ami.addr is empty: set it to the manager interface of the local Asterisk, e.g. 127.0.0.1:5038", ErrInvalid)
	case c.User == "":
		return fmt.Errorf("%w: ami.user is empty: set it to a [user] of Asterisk's manager.conf", ErrInvalid)
	case c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.AuthRetry <= 0:
		return fmt.Errorf("%w: AMI backoff settings must be positive with max >= min", ErrInvalid)
	}
	return nil
}

// Connection states.
const (
	StateConnecting = "connecting"
	StateConnected  = "connected"
	StateAuthFailed = "auth_failed" // credentials refused; retried every AuthRetry
	StateDown       = "down"        // unreachable; retried with backoff
	StateStopped    = "stopped"
)

// ConnState is the client's view of its link to Asterisk.
type ConnState struct {
	State    string    `json:"state"`
	Since    time.Time `json:"since"`
	Error    string    `json:"error,omitempty"`
	Version  string    `json:"version,omitempty"` // manager protocol version
	Connects int       `json:"connects"`          // successful logins so far
	Failures int       `json:"failures"`          // failed attempts since the last success
	// LoginAt is when the latest login attempt began: events that come
	// with a login (FullyBooted) are told from later ones by it.
	LoginAt time.Time `json:"-"`
}

// ClientHooks are what a Client calls; both may be nil.
type ClientHooks struct {
	// OnEvent receives events (see EventHandler: it must not block).
	OnEvent EventHandler
	// OnConnect is called after each successful login, before events are
	// awaited; it must not block either (signal a goroutine instead).
	OnConnect func(c *Conn)
}

// Client keeps one session to Asterisk up: it reconnects with backoff,
// and after refused credentials logs one clear line and waits AuthRetry.
type Client struct {
	cfg   ClientConfig
	hooks ClientHooks
	log   *slog.Logger

	mu    sync.Mutex
	conn  *Conn
	state ConnState
	wake  chan struct{} // closed when a connection comes up
}

// NewClient returns a client; Run connects it.
func NewClient(cfg ClientConfig, hooks ClientHooks, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, hooks: hooks, log: log, wake: make(chan struct{}),
		state: ConnState{State: StateConnecting, Since: time.Now()}}
}

// State returns the current connection state.
func (c *Client) State() ConnState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Send sends an action on the current connection; ErrNotConnected when
// there is none.
func (c *Client) Send(ctx context.Context, a Action) (*Response, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return nil, fmt.Errorf("%w (%s)", ErrNotConnected, c.State().State)
	}
	return conn.Send(ctx, a)
}

// WaitConnected waits until the client is logged in or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	c.mu.Lock()
	conn, wake := c.conn, c.wake
	c.mu.Unlock()
	if conn != nil {
		return nil
	}
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %s", ErrNotConnected, c.State().Error)
	}
}

// Run connects and reconnects until ctx ends.
func (c *Client) Run(ctx context.Context) error {
	if err := c.cfg.Validate(); err != nil {
		return err
	}
	failures := 0
	defer c.setState(func(s *ConnState) { s.State = StateStopped; s.Since = time.Now() })
	for ctx.Err() == nil {
		c.setState(func(s *ConnState) { s.LoginAt = time.Now() })
		conn, err := Dial(ctx, DialConfig{Addr: c.cfg.Addr, User: c.cfg.User, Secret: c.cfg.Secret,
			Events: c.cfg.Events, Timeout: c.cfg.DialTimeout, Logger: c.log}, c.hooks.OnEvent)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			wait := c.backoff(failures)
			state := StateDown
			if errors.Is(err, ErrAuth) {
				state, wait = StateAuthFailed, c.cfg.AuthRetry
			}
			prev := c.State()
			c.setState(func(s *ConnState) {
				if s.State != state {
					s.Since = time.Now()
				}
				s.State, s.Error, s.Failures = state, err.Error(), failures
			})
			// One line per new kind of failure, not one per attempt.
			if prev.State != state || prev.Error != err.Error() {
				lvl := slog.LevelWarn
				if state == StateAuthFailed {
					lvl = slog.LevelError
				}
				c.log.Log(ctx, lvl, "cannot log in to Asterisk's manager interface", "addr", c.cfg.Addr, "user", c.cfg.User,
					"err", err, "retry_in", wait.Round(time.Millisecond))
			} else {
				c.log.Debug("AMI login failed again", "err", err, "attempt", failures)
			}
			if !sleep(ctx, wait) {
				break
			}
			continue
		}
		failures = 0
		c.mu.Lock()
		c.conn = conn
		c.state = ConnState{State: StateConnected, Since: time.Now(), Version: conn.Version(), Connects: c.state.Connects + 1, LoginAt: c.state.LoginAt}
		close(c.wake)
		c.mu.Unlock()
		c.log.Info("connected to Asterisk's manager interface", "addr", c.cfg.Addr, "version", conn.Version())
		if c.hooks.OnConnect != nil {
			c.hooks.OnConnect(conn)
		}
		select {
		case <-conn.Done():
		case <-ctx.Done():
			conn.Close()
		}
		c.mu.Lock()
		c.conn = nil
		c.wake = make(chan struct{})
		c.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
		c.setState(func(s *ConnState) {
			s.State, s.Since, s.Error = StateDown, time.Now(), fmt.Sprint(conn.Err())
		})
		c.log.Warn("lost the connection to Asterisk's manager interface; reconnecting", "addr", c.cfg.Addr, "err", conn.Err())
		if !sleep(ctx, c.backoff(1)) {
			break
		}
	}
	return nil
}

func (c *Client) setState(fn func(*ConnState)) {
	c.mu.Lock()
	fn(&c.state)
	c.mu.Unlock()
}

// backoff is MinBackoff doubled per failure, capped, with ±20% jitter so
// that the agents of a site do not reconnect in step.
func (c *Client) backoff(failures int) time.Duration {
	b := backoff.Backoff{Min: c.cfg.MinBackoff, Max: c.cfg.MaxBackoff, Jitter: 0.2}
	return b.Delay(failures)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
