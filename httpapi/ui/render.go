package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed templates/*.html static/*
var assets embed.FS

// pageNames are the templates with a page of their own; each is parsed
// together with layout.html.
var pageNames = []string{"status", "services", "roaming", "groups", "conflicts", "conflict", "login", "error"}

type pages struct{ t map[string]*template.Template }

var funcs = template.FuncMap{
	"refPath": refPath,
	"join":    strings.Join,
	"list":    func(s ...string) []string { return s },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
}

func parsePages() (*pages, error) {
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", n, err)
		}
		p.t[n] = t
	}
	return p, nil
}

// pageData is what every template gets.
type pageData struct {
	Title   string
	Nav     string // the menu entry to highlight
	Heading string // the enterprise's name
	Viewer  *viewer
	CSRF    string
	Refresh int // seconds; 0 never
	Now     time.Time
	Cluster string // the agent serving the page
	Node    string
	Body    any
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 rather than half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, page string, v *viewer, title, nav string, body any) {
	d := pageData{Title: title, Nav: nav, Heading: u.cfg.Title, Viewer: v, Now: time.Now(),
		Cluster: u.deps.Cluster, Node: u.deps.Node, Body: body}
	d.CSRF = u.csrfToken(w, r)
	if v != nil {
		v.CSRF = d.CSRF
	}
	switch nav {
	case "status", "services", "roaming", "groups":
		d.Refresh = int(u.cfg.Refresh / time.Second)
	}
	var buf bytes.Buffer
	if err := u.pages.t[page].ExecuteTemplate(&buf, "layout.html", d); err != nil {
		u.log.Error("ui: render", "page", page, "err", err)
		http.Error(w, "internal error rendering the page (see the agent's log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Heading string
	Message string
}

// fail renders an error page.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, v *viewer, status int, heading, msg string) {
	if v == nil {
		v = &viewer{}
	}
	u.render(w, r, status, "error", v, heading, "", errorData{Status: status, Heading: heading, Message: msg})
}
