package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxtopo/pbxtopo/service"
)

// Cookies. The session cookie holds the token itself (the API's bearer()
// accepts it under this name); it is scoped to Prefix, so browsers never
// send it to the JSON API, which has no CSRF protection.
const (
	sessionCookie = "pbxtopo_session"
	csrfCookie    = "pbxtopo_csrf"
	csrfField     = "csrf"
	maxFormBody   = 64 << 10
)

// viewer is who looks at a page.
type viewer struct {
	Role    service.Role
	Who     string
	Session bool // logged in through the login form: can log out
	CSRF    string
}

// IsAdmin reports whether the viewer may resolve conflicts and see secrets.
func (v *viewer) IsAdmin() bool { return v.Role.Allows(service.RoleAdmin) }

type pageFunc func(w http.ResponseWriter, r *http.Request, v *viewer)

// page guards a page: POSTs must carry the CSRF token, the caller must be
// authenticated (else the login form) and hold the role need (else a
// page that says which role it takes).
func (u *UI) page(need service.Role, h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		w.Header().Set("Cache-Control", "no-store")
		v := &viewer{Role: service.RoleAdmin, Who: "local"}
		if u.deps.Auth != nil {
			_, cookieErr := r.Cookie(sessionCookie)
			if cookieErr != nil && r.Header.Get("Authorization") == "" {
				u.toLogin(w, r, "")
				return
			}
			role, who, err := u.deps.Auth.Authenticate(r)
			var ae *service.Error
			switch {
			case errors.As(err, &ae) && ae.Code == http.StatusTooManyRequests:
				u.fail(w, r, nil, ae.Code, "Too many attempts", ae.Msg)
				return
			case err != nil && cookieErr == nil:
				u.clearSession(w, r)
				u.toLogin(w, r, "ended")
				return
			case err != nil:
				u.fail(w, r, nil, http.StatusUnauthorized, "Not logged in", "The token given is not valid.")
				return
			}
			v.Role, v.Who, v.Session = role, who, cookieErr == nil
		}
		if r.Method == http.MethodPost {
			if err := u.checkCSRF(r); err != nil {
				u.log.Warn("ui: form refused", "client", r.RemoteAddr, "path", r.URL.Path, "err", err)
				u.fail(w, r, v, http.StatusForbidden, "Form refused",
					"This form expired or came from another site: reload the page and try again.")
				return
			}
		}
		if !v.Role.Allows(need) {
			u.fail(w, r, v, http.StatusForbidden, "Not allowed",
				"This needs the "+need.String()+" role; you are logged in as "+v.Who+" with the "+v.Role.String()+" role.")
			return
		}
		h(w, r.WithContext(service.WithRole(r.Context(), v.Role, v.Who)), v)
	})
}

// loginNotes are the notes the login page shows, by the code in its
// address: only these, so a link cannot make the page say anything else.
var loginNotes = map[string]string{
	"ended": "Your session ended (the token was revoked or changed): log in again.",
	"out":   "Logged out.",
}

func (u *UI) toLogin(w http.ResponseWriter, r *http.Request, note string) {
	q := url.Values{"next": {r.URL.RequestURI()}}
	if note != "" {
		q.Set("note", note)
	}
	http.Redirect(w, r, Prefix+"login?"+q.Encode(), http.StatusSeeOther)
}

func (u *UI) secure(r *http.Request) bool { return r.TLS != nil || u.cfg.SecureCookies }

func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteStrictMode})
}

func (u *UI) clearSession(w http.ResponseWriter, r *http.Request) {
	u.setCookie(w, r, sessionCookie, "", -1)
}

func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

// csrfToken returns the token forms of this response carry: a MAC of the
// browser's CSRF cookie (made here when missing) and its session, so it
// is worthless to another browser or another session.
func (u *UI) csrfToken(w http.ResponseWriter, r *http.Request) string {
	c := cookieValue(r, csrfCookie)
	if len(c) < 32 {
		c = randomValue()
		u.setCookie(w, r, csrfCookie, c, 0)
	}
	return u.mac(c, cookieValue(r, sessionCookie))
}

func (u *UI) mac(csrf, session string) string {
	m := hmac.New(sha256.New, u.key)
	m.Write([]byte(csrf))
	m.Write([]byte{0})
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomValue() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var (
	errCrossSite = errors.New("the request came from another site")
	errNoToken   = errors.New("the form has no valid CSRF token")
)

// checkCSRF accepts a form only from this site with the token of this
// browser's session.
func (u *UI) checkCSRF(r *http.Request) error {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return errCrossSite
	}
	if o := r.Header.Get("Origin"); o != "" {
		ou, err := url.Parse(o)
		if err != nil || !strings.EqualFold(ou.Host, r.Host) {
			return errCrossSite
		}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return err
	}
	c := cookieValue(r, csrfCookie)
	got := r.PostForm.Get(csrfField)
	if c == "" || got == "" || !hmac.Equal([]byte(got), []byte(u.mac(c, cookieValue(r, sessionCookie)))) {
		return errNoToken
	}
	return nil
}

// safeNext keeps a redirect after login on these pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.Contains(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return Prefix
	}
	return next
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	u.renderLogin(w, r, http.StatusOK, safeNext(q.Get("next")), loginNotes[q.Get("note")])
}

func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	data := loginData{Next: next, Message: msg, NoAuth: u.deps.Auth == nil}
	u.render(w, r, status, "login", &viewer{}, "Log in", "", data)
}

type loginData struct {
	Next, Message string
	NoAuth        bool // no tokens: nobody needs to log in
}

// login checks the token the form gives and opens a session with it.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	if err := u.checkCSRF(r); err != nil {
		u.log.Warn("ui: login form refused", "client", r.RemoteAddr, "err", err)
		u.fail(w, r, nil, http.StatusForbidden, "Form refused", "This form expired or came from another site: reload the page and try again.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if u.deps.Auth == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	probe := r.Clone(r.Context())
	probe.Header = r.Header.Clone()
	probe.Header.Del("Cookie")
	probe.Header.Set("Authorization", "Bearer "+tok)
	_, who, err := u.deps.Auth.Authenticate(probe)
	if err != nil {
		msg := "That token is not valid."
		var ae *service.Error
		if errors.As(err, &ae) && ae.Code == http.StatusTooManyRequests {
			msg = ae.Msg
		}
		u.renderLogin(w, r, http.StatusUnauthorized, next, msg)
		return
	}
	u.setCookie(w, r, sessionCookie, tok, 0)
	u.setCookie(w, r, csrfCookie, randomValue(), 0) // a new session gets new form tokens
	u.log.Info("ui: login", "who", who, "client", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, v *viewer) {
	u.clearSession(w, r)
	u.setCookie(w, r, csrfCookie, "", -1)
	http.Redirect(w, r, Prefix+"login?note=out", http.StatusSeeOther)
}
