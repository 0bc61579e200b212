package httpapi

import (
	"net/http"

	"github.com/pbxtopo/pbxtopo/service"
)

const healthRoute = "GET /v1/health"

// routes returns every route of the HTTP API. Each feature (roaming, DNS,
// replication...) contributes its list here.
func routes(svc *service.Service) []Route {
	var rs []Route
	rs = append(rs, dataRoutes(svc)...)
	rs = append(rs, replicationRoutes(svc)...)
	rs = append(rs, gossipRoutes(svc)...)
	rs = append(rs, raftRoutes(svc)...)
	rs = append(rs, roamingRoutes(svc)...)
	rs = append(rs, zoneRoutes(svc)...)
	rs = append(rs, statusRoutes(svc)...)
	rs = append(rs, moveRoutes(svc)...)
	rs = append(rs, decommissionRoutes(svc)...)
	rs = append(rs, hoursRoutes(svc)...)
	rs = append(rs, backupRoutes(svc)...)
	rs = append(rs, Route{healthRoute, service.RoleNone, func(w http.ResponseWriter, r *http.Request) {
		h := svc.Health()
		code := 200
		if h.Status != "ok" {
			code = 503
		}
		writeJSON(w, code, h)
	}})
	return rs
}

// Authenticator tells who makes a request. A nil Authenticator trusts
// every caller as admin: for tests and offline tools only.
type Authenticator interface {
	Authenticate(r *http.Request) (role service.Role, who string, err error)
}

// Handler returns the HTTP API over svc, each route guarded by its role.
func Handler(svc *service.Service, auth Authenticator) http.Handler {
	return HandlerWith(svc, HandlerOptions{Auth: auth})
}

// HandlerOptions are the optional parts of the agent's HTTP server.
type HandlerOptions struct {
	Auth    Authenticator
	Metrics *Metrics     // counts requests and serves /metrics (read role)
	Pages   http.Handler // the web pages under /ui/
	// Shed bounds the requests served at once (shed.go); zero serves all.
	Shed ShedConfig
}

// HandlerWith returns the API, and the metrics and pages when given.
func HandlerWith(svc *service.Service, o HandlerOptions) http.Handler {
	auth := o.Auth
	shed := newShedder(o.Shed)
	mux := http.NewServeMux()
	rts := routes(svc)
	for _, rt := range keylessRoutes(rts) {
		mux.Handle(rt.Pattern, guard(rt, auth))
	}
	for _, rt := range rts {
		h := guard(rt, auth)
		if rt.Pattern != healthRoute {
			h = shed.wrap(gate(svc, h))
		}
		if o.Metrics != nil {
			h = o.Metrics.instrument(rt.Pattern, h)
		}
		mux.Handle(rt.Pattern, h)
	}
	if o.Metrics != nil {
		mux.Handle("GET /metrics", guard(Route{Role: service.RoleRead, Handler: o.Metrics.handler().ServeHTTP}, auth))
	}
	if o.Pages != nil {
		mux.Handle("/ui/", shed.wrap(o.Pages))
		mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &service.Error{Code: 404, Msg: "no such API route: " + r.Method + " " + r.URL.Path + " (see docs/http-api.md)"})
	})
	return mux
}

func guard(rt Route, auth Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, who := service.RoleAdmin, "local"
		if auth != nil && rt.Role == service.RoleNone { // open routes (health) ask for no token
			role, who = service.RoleNone, "anonymous"
		} else if auth != nil {
			var err error
			if role, who, err = auth.Authenticate(r); err != nil {
				writeError(w, err)
				return
			}
		}
		if err := checkWriteRequest(r); err != nil {
			writeError(w, err)
			return
		}
		if !role.Allows(rt.Role) {
			writeError(w, &service.Error{Code: 403, Msg: "this needs the " + rt.Role.String() + " role; your token has " + role.String()})
			return
		}
		rt.Handler(w, r.WithContext(service.WithRole(r.Context(), role, who)))
	})
}

// fresh makes a GET with FreshHeader wait, before it reads, until this
// node holds every write its cluster acknowledged.
// gate answers 503 while the node is starting (its copy may miss writes
// the cluster acknowledged until it has replayed its Raft log), and reads
// through the leader when the request asks for a fresh read.
func gate(svc *service.Service, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hs := svc.Health(); hs.Status == "starting" {
			writeError(w, &service.Error{Code: 503, Msg: hs.Reason})
			return
		}
		if r.Method == "GET" && r.Header.Get(FreshHeader) != "" {
			if err := svc.ReadBarrier(r.Context()); err != nil {
				writeError(w, err)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
