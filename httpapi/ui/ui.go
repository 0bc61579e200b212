package ui

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/pbxtopo/pbxtopo/httpapi"
	"github.com/pbxtopo/pbxtopo/service"
)

// Prefix is where the pages live.
const Prefix = "/ui/"

// Config are the settings of the pages.
type Config struct {
	// Title names the enterprise in every page's header.
	Title string
	// Refresh reloads the wall board pages (status, services, roaming,
	// groups) this often; 0 never.
	Refresh time.Duration
	// PageSize is how many rows the group status page shows at once.
	PageSize int
	// SecureCookies marks the cookies Secure even when the request came
	// over plain HTTP (the agent behind a TLS proxy). Over TLS they always are.
	SecureCookies bool
}

// DefaultConfig returns the default settings.
func DefaultConfig() Config {
	return Config{Title: "pbxtopo", Refresh: 30 * time.Second, PageSize: 200}
}

// Validate says what is wrong with a config.
func (c Config) Validate() error {
	switch {
	case c.Refresh < 0 || c.Refresh > 0 && c.Refresh < time.Second:
		return fmt.Errorf("ui refresh %s: use 0 (never) or at least 1s", c.Refresh)
	case c.PageSize < 1 || c.PageSize > 10000:
		return fmt.Errorf("ui page size %d: use 1 to 10000", c.PageSize)
	}
	return nil
}

// Deps are the parts the pages read. Data is required; a nil optional
// part renders as "no data".
type Deps struct {
	Data Data
	// Auth authenticates the session cookie (the API's TokenAuth). Nil
	// trusts every caller as admin, as the API does without a tokens file.
	Auth httpapi.Authenticator
	// Cluster and Node name the agent that serves the pages.
	Cluster, Node string

	// Audit records each secret an admin reveals; without it (nil) no
	// secret is ever revealed.
	Audit Auditor

	Roaming  RoamingSource
	Services ServiceSource
	DNS      DNSSource
	Agents   AgentStatusSource

	Log *slog.Logger
}

// Auditor is the agent's audit log.
type Auditor interface {
	Record(service.AuditEvent) error
}

// ErrNoData is returned by New without Deps.Data.
var ErrNoData = errors.New("ui: Deps.Data is required (the agent's Service)")

// UI serves the pages under Prefix.
type UI struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	key     []byte // signs CSRF tokens; new at every start
	pages   *pages
	handler http.Handler
}

// New returns the pages over deps.
func New(cfg Config, deps Deps) (*UI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Data == nil {
		return nil, ErrNoData
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Audit == nil {
		deps.Audit = (*service.AuditLog)(nil) // records nothing, so reveals nothing
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	u := &UI{cfg: cfg, deps: deps, log: deps.Log, key: make([]byte, 32), pages: p}
	rand.Read(u.key)
	u.handler = u.routes()
	return u, nil
}

// ServeHTTP serves every path under Prefix.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.handler.ServeHTTP(w, r) }

// pageRoute is one route of the pages and the role it needs (RoleNone:
// open to anyone: the stylesheet, the login form).
type pageRoute struct {
	Pattern string
	Role    service.Role
	Handler http.Handler
}

// routeTable lists every route of the pages with its role.
func (u *UI) routeTable() []pageRoute {
	static, _ := fs.Sub(assets, "static")
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	open := func(p string, h http.HandlerFunc) pageRoute { return pageRoute{p, service.RoleNone, h} }
	guarded := func(p string, role service.Role, h pageFunc) pageRoute { return pageRoute{p, role, u.page(role, h)} }
	return []pageRoute{
		open("GET "+Prefix+"static/", func(w http.ResponseWriter, r *http.Request) {
			securityHeaders(w)
			w.Header().Set("Cache-Control", "public, max-age=3600")
			files.ServeHTTP(w, r)
		}),
		open("GET "+Prefix+"login", u.loginForm),
		open("POST "+Prefix+"login", u.login),
		guarded("POST "+Prefix+"logout", service.RoleRead, u.logout),
		guarded("GET "+Prefix+"{$}", service.RoleRead, u.statusPage),
		guarded("GET "+Prefix+"services", service.RoleRead, u.servicesPage),
		guarded("GET "+Prefix+"roaming", service.RoleRead, u.roamingPage),
		guarded("GET "+Prefix+"groups", service.RoleRead, u.groupsPage),
		guarded("GET "+Prefix+"conflicts", service.RoleRead, u.conflictsPage),
		guarded("GET "+Prefix+"conflicts/{ref...}", service.RoleRead, u.conflictPage),
		guarded("POST "+Prefix+"conflicts/{ref...}", service.RoleAdmin, u.resolve),
		guarded("POST "+Prefix+"reveal", service.RoleAdmin, u.revealSecret),
		guarded(Prefix, service.RoleRead, func(w http.ResponseWriter, r *http.Request, v *viewer) {
			u.fail(w, r, v, http.StatusNotFound, "No such page", "There is no page at "+r.URL.Path+".")
		}),
	}
}

func (u *UI) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range u.routeTable() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	return mux
}

// securityHeaders forbid framing, inline scripts and styles, and foreign
// resources: a value that slipped through escaping still cannot run.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
}
