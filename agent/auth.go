package agent

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Token is one API token: who holds it and what it may do.
type Token struct {
	Role Role
	Name string
}

// ParseTokens reads a tokens file: one token per line, "ROLE NAME TOKEN",
// '#' starts a comment. Roles: read, operator, admin.
func ParseTokens(path string) (map[string]Token, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer fh.Close()
	out := map[string]Token{}
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s line %d: want ROLE NAME TOKEN", path, n)
		}
		role, err := ParseRole(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		if len(f[2]) < 16 {
			return nil, fmt.Errorf("%s line %d: token of %s is too short (16 characters at least; make one with 'pbxtopo token new')", path, n, f[1])
		}
		if _, dup := out[f[2]]; dup {
			return nil, fmt.Errorf("%s line %d: token of %s is used twice", path, n, f[1])
		}
		out[f[2]] = Token{Role: role, Name: f[1]}
	}
	return out, sc.Err()
}

// NewToken returns a random token.
func NewToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenAuth authenticates API requests by bearer token. Failures are
// answered the same whether the token exists or not, limited per client
// address, and logged in one line fail2ban can match:
//
//	level=WARN msg="authentication failed" client=203.0.113.9 ...
type TokenAuth struct {
	log *slog.Logger

	limit int // failed authentications allowed per client address and window

	mu       sync.Mutex
	tokens   map[[32]byte]Token // by SHA-256 of the token: compared in constant time
	failures map[string][]time.Time
}

// Limits of failed authentications per client address.
const (
	authFailWindow = time.Minute
	authFailMax    = 10
)

// NewTokenAuth returns an authenticator over tokens.
func NewTokenAuth(tokens map[string]Token, log *slog.Logger) *TokenAuth {
	return NewTokenAuthLimit(tokens, log, authFailMax)
}

// NewTokenAuthLimit is NewTokenAuth with another limit of failed
// authentications per client address per minute.
func NewTokenAuthLimit(tokens map[string]Token, log *slog.Logger, limit int) *TokenAuth {
	a := &TokenAuth{log: log, limit: limit, failures: map[string][]time.Time{}}
	a.SetTokens(tokens)
	return a
}

// SetTokens replaces the tokens (SIGHUP reloads the file).
func (a *TokenAuth) SetTokens(tokens map[string]Token) {
	m := make(map[[32]byte]Token, len(tokens))
	for t, v := range tokens {
		m[sha256.Sum256([]byte(t))] = v
	}
	a.mu.Lock()
	a.tokens = m
	a.mu.Unlock()
}

// Authenticate implements Authenticator. A valid token always passes:
// the limit holds back only the failures of an address (on the default
// loopback bind every local user shares 127.0.0.1, and a mistyped token
// must not lock the admin out).
func (a *TokenAuth) Authenticate(r *http.Request) (Role, string, error) {
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	tok := bearer(r)
	sum := sha256.Sum256([]byte(tok))
	now := time.Now()
	a.mu.Lock()
	var found Token
	ok := false
	for h, t := range a.tokens { // every entry, so timing says nothing
		if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
			found, ok = t, true
		}
	}
	limited := false
	if !ok || tok == "" {
		recent := a.failures[client][:0]
		for _, t := range a.failures[client] {
			if now.Sub(t) < authFailWindow {
				recent = append(recent, t)
			}
		}
		limited = len(recent) >= a.limit
		if !limited {
			recent = append(recent, now)
		}
		a.failures[client] = recent
	}
	a.mu.Unlock()
	switch {
	case ok && tok != "":
		return found.Role, found.Name, nil
	case limited:
		return RoleNone, "", &Error{Code: 429, Msg: "too many failed authentications from this address; wait a minute (a valid token still passes)"}
	}
	a.log.Warn("authentication failed", "client", client, "method", r.Method, "path", r.URL.Path)
	return RoleNone, "", &Error{Code: 401, Msg: "authentication required: give a valid token (--token, PBXTOPO_TOKEN or Authorization: Bearer)"}
}

func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// sessionCookie holds the token of a web session (HttpOnly).
const sessionCookie = "pbxtopo_session"
