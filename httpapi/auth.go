package httpapi

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/service"
)

// Token is one API token: who holds it and what it may do.
type Token struct {
	Role service.Role
	Name string
}

// TokenHash is the SHA-256 of a token: what a tokens file keeps, so a
// copy of the file (a backup, a leaked config) gives no token away. A
// token is 192 random bits, so a fast hash is enough, as Consul and
// Vault do for their accessor secrets; a slow one (argon2id) would cost
// every request its time.
type TokenHash [32]byte

// tokenHashPrefix marks a hashed token in a tokens file.
const tokenHashPrefix = "sha256:"

// HashToken returns the hash of a token.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

func (h TokenHash) String() string { return tokenHashPrefix + hex.EncodeToString(h[:]) }

// TokenLine returns the tokens-file line of a token: its hash, never the
// token itself.
func TokenLine(role service.Role, name, token string) string {
	return fmt.Sprintf("%s %s %s", role, name, HashToken(token))
}

// TokensFile is a parsed tokens file.
type TokensFile struct {
	Tokens map[TokenHash]Token
	// Clear names the holders whose token the file keeps in clear (an
	// older file): they still work, and 'pbxtopo token hash' fixes them.
	Clear []string
}

// ParseTokens reads a tokens file: one token per line, "ROLE NAME
// sha256:HEX" (made by 'pbxtopo token new'), '#' starts a comment.
// Roles: read, operator, admin. A line with the token itself instead of
// its hash is accepted and listed in Clear.
func ParseTokens(path string) (*TokensFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer fh.Close()
	out := &TokensFile{Tokens: map[TokenHash]Token{}}
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
			return nil, fmt.Errorf("%s line %d: want ROLE NAME TOKEN-HASH (make it with 'pbxtopo token new ROLE NAME')", path, n)
		}
		role, err := service.ParseRole(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		h, clear, err := parseTokenField(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: the token of %s: %w", path, n, f[1], err)
		}
		if clear {
			out.Clear = append(out.Clear, f[1])
		}
		if _, dup := out.Tokens[h]; dup {
			return nil, fmt.Errorf("%s line %d: token of %s is used twice", path, n, f[1])
		}
		out.Tokens[h] = Token{Role: role, Name: f[1]}
	}
	return out, sc.Err()
}

// parseTokenField reads the third field of a tokens-file line: a hash,
// or (an older file) the token in clear.
func parseTokenField(s string) (h TokenHash, clear bool, err error) {
	if hexPart, ok := strings.CutPrefix(s, tokenHashPrefix); ok {
		b, err := hex.DecodeString(hexPart)
		if err != nil || len(b) != len(h) {
			return h, false, fmt.Errorf("%q is not a SHA-256 hash (64 hex digits after %s)", s, tokenHashPrefix)
		}
		copy(h[:], b)
		return h, false, nil
	}
	if len(s) < 16 {
		return h, true, fmt.Errorf("too short (16 characters at least; make one with 'pbxtopo token new')")
	}
	return HashToken(s), true, nil
}

// NewToken returns a random token (192 bits).
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
	tokens   map[TokenHash]Token    // compared in constant time
	failures map[string][]time.Time // by failingClient; only failures of the last window
	swept    time.Time              // the last sweep of a full table
	now      func() time.Time       // the clock (tests move it)
}

// Limits of failed authentications per client address.
const (
	authFailWindow = time.Minute
	authFailMax    = 10
	// authFailClients bounds the addresses tracked at once, so a flood
	// from many addresses cannot grow the table without end: past it,
	// expired entries are dropped (at most once a second), and while the
	// table is still full new addresses share one entry
	// (authFailOverflow) and one limit.
	authFailClients  = 1 << 14
	authFailOverflow = "*"
)

// failingClient is the key failures are counted under: the address, or
// for IPv6 its /64, which one host can fill with addresses.
func failingClient(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// noteFailure records a failed authentication of client at now and says
// whether the client is over its limit (the failure is then not counted,
// so a client that stops is let in again a window after its last
// counted failure). Called with a.mu held.
func (a *TokenAuth) noteFailure(client string, now time.Time) (limited bool) {
	if _, ok := a.failures[client]; !ok && len(a.failures) >= authFailClients {
		// At most one sweep a second: a flood keeps the table full, and
		// a sweep holds the lock valid tokens take too.
		if now.Sub(a.swept) >= time.Second {
			a.swept = now
			for c, times := range a.failures {
				if len(times) == 0 || now.Sub(times[len(times)-1]) >= authFailWindow {
					delete(a.failures, c)
				}
			}
		}
		if len(a.failures) >= authFailClients {
			client = authFailOverflow
		}
	}
	recent := a.failures[client][:0]
	for _, t := range a.failures[client] {
		if now.Sub(t) < authFailWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) >= a.limit {
		a.failures[client] = recent
		return true
	}
	a.failures[client] = append(recent, now)
	return false
}

// NewTokenAuth returns an authenticator over tokens.
func NewTokenAuth(tokens map[string]Token, log *slog.Logger) *TokenAuth {
	return NewTokenAuthLimit(tokens, log, authFailMax)
}

// NewTokenAuthLimit is NewTokenAuth with another limit of failed
// authentications per client address per minute.
func NewTokenAuthLimit(tokens map[string]Token, log *slog.Logger, limit int) *TokenAuth {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &TokenAuth{log: log, limit: limit, failures: map[string][]time.Time{}, now: time.Now}
	a.SetTokens(tokens)
	return a
}

// SetTokens replaces the tokens by these, given in clear (tests).
func (a *TokenAuth) SetTokens(tokens map[string]Token) {
	m := make(map[TokenHash]Token, len(tokens))
	for t, v := range tokens {
		m[HashToken(t)] = v
	}
	a.SetTokenHashes(m)
}

// SetTokenHashes replaces the tokens by those of a tokens file (SIGHUP
// reloads it).
func (a *TokenAuth) SetTokenHashes(tokens map[TokenHash]Token) {
	a.mu.Lock()
	a.tokens = tokens
	a.mu.Unlock()
}

// Authenticate implements Authenticator. A valid token always passes:
// the limit holds back only the failures of an address (on the default
// loopback bind every local user shares 127.0.0.1, and a mistyped token
// must not lock the admin out).
func (a *TokenAuth) Authenticate(r *http.Request) (service.Role, string, error) {
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	tok := bearer(r)
	sum := HashToken(tok)
	now := a.now()
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
		limited = a.noteFailure(failingClient(client), now)
	}
	a.mu.Unlock()
	switch {
	case ok && tok != "":
		return found.Role, found.Name, nil
	case limited:
		return service.RoleNone, "", &service.Error{Code: 429, Msg: "too many failed authentications from this address; wait a minute (a valid token still passes)"}
	}
	a.log.Warn("authentication failed", "client", client, "method", r.Method, "path", r.URL.Path)
	return service.RoleNone, "", &service.Error{Code: 401, Msg: "authentication required: give a valid token (--token, PBXTOPO_TOKEN or Authorization: Bearer)"}
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

// WarnClearTokens says which tokens a file keeps in clear.
func WarnClearTokens(log *slog.Logger, path string, f *TokensFile) {
	if len(f.Clear) > 0 {
		log.Warn("the tokens file keeps tokens in clear: replace them with their hashes ('pbxtopo token hash FILE')",
			"file", path, "holders", strings.Join(f.Clear, ","))
	}
}
