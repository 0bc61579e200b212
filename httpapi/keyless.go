package httpapi

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/pbxtopo/pbxtopo/service"
)

// keylessRoutes answers a request that leaves out the record a route
// names (PUT /v1/tables/sites for PUT /v1/tables/{table}/{key...}). The
// mux would redirect it to the path with a trailing slash (307), which
// curl does not follow: the caller saw an empty answer, exit status 0,
// and nothing changed. It answers 405 (404 where no method serves the
// path) with the route to use. It returns a route for each such path the
// routes do not serve themselves, with the role of the route it stands
// for: a caller without it gets 401 or 403 first, as there.
func keylessRoutes(rts []Route) []Route {
	served := map[string]bool{}
	methodsAt := map[string][]string{} // bare path → methods with a route there
	for _, rt := range rts {
		served[rt.Pattern] = true
		method, path, _ := strings.Cut(rt.Pattern, " ")
		methodsAt[path] = append(methodsAt[path], method)
	}
	var out []Route
	for _, rt := range rts {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		slash := strings.LastIndex(path, "/")
		if !strings.HasSuffix(path, "...}") || served[method+" "+path[:slash]] {
			continue
		}
		bare, wildcard := path[:slash], strings.Trim(path[slash+1:], "{.}")
		allowed := append([]string(nil), methodsAt[bare]...)
		sort.Strings(allowed)
		allow := allowed
		if slices.Contains(allowed, "GET") {
			allow = append([]string{"HEAD"}, allowed...) // the mux serves HEAD with GET
			sort.Strings(allow)
		}
		out = append(out, Route{Pattern: method + " " + bare, Role: rt.Role, Handler: func(w http.ResponseWriter, r *http.Request) {
			msg := r.Method + " " + r.URL.Path + " names no record: add its " + wildcard + " (" + r.Method + " " + r.URL.Path + "/" + strings.ToUpper(wildcard) + ")"
			if len(allowed) > 0 {
				msg += "; " + strings.Join(allowed, " and ") + " " + r.URL.Path + " serve the table itself"
			}
			msg += " (see docs/http-api.md)"
			code := http.StatusNotFound
			if len(allowed) > 0 {
				code = http.StatusMethodNotAllowed
				w.Header().Set("Allow", strings.Join(allow, ", "))
			}
			writeError(w, &service.Error{Code: code, Msg: msg})
		}})
	}
	return out
}
