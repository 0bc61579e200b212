package httpapi

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxtopo/pbxtopo/service"
)

// Cross-site request forgery. A browser sends a foreign page's request
// with the user's network position (the API on 127.0.0.1 without a
// tokens file trusts every local caller) but without preflight only for
// "simple" content types (text/plain, forms). So a write must say it is
// JSON or CSV, which a foreign page cannot send without the browser asking
// first (and this API never agrees), and must not come from another
// origin. The web pages have their own per-session CSRF token (httpapi/ui).

// writeContentTypes are the bodies writes accept.
var writeContentTypes = map[string]bool{"application/json": true, "text/csv": true}

// checkWriteRequest refuses a write that a foreign page could have made.
func checkWriteRequest(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return &service.Error{Code: 403, Err: service.ErrForbidden, Msg: "cross-site request refused (Sec-Fetch-Site: " + s + "): the API takes writes only from its own origin or from tools"}
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
			return &service.Error{Code: 403, Err: service.ErrForbidden, Msg: "cross-origin request refused (Origin " + o + "): the API takes writes only from its own origin or from tools"}
		}
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !writeContentTypes[ct] {
		return &service.Error{Code: 415, Msg: "a write needs Content-Type: application/json (or text/csv for an import); got " +
			quoteOrNone(r.Header.Get("Content-Type"))}
	}
	return nil
}

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return "\"" + s + "\""
}
