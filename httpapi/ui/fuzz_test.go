package ui

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzGroupQuery: any query string is refused or gives a selection whose
// own address reads back to the same selection.
func FuzzGroupQuery(f *testing.F) {
	for _, s := range []string{"", "group=IT&sort=name&desc=1&page=3", "search=%3Cscript%3E&cluster=tpa1", "sort=secret", "page=-1", "page=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseGroupQuery(v)
		if err != nil {
			return
		}
		if q.Page < 1 {
			t.Fatalf("page %d accepted", q.Page)
		}
		u, err := url.Parse(q.URL())
		if err != nil || u.Path != "/ui/groups" {
			t.Fatalf("URL %q: %v", q.URL(), err)
		}
		back, err := parseGroupQuery(u.Query())
		if err != nil || back != q {
			t.Fatalf("%q → %+v → %q → %+v (%v)", raw, q, q.URL(), back, err)
		}
	})
}

// FuzzSafeNext: the redirect after login never leaves the pages.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/ui/", "/ui/groups?x=1", "//evil", "/ui//evil", "https://evil/", "/ui/\\evil", "/ui/%2f%2fevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if !strings.HasPrefix(got, Prefix) || err != nil || u.Host != "" || u.Scheme != "" || strings.Contains(got, "//") {
			t.Fatalf("safeNext(%q) = %q leaves the pages", next, got)
		}
	})
}
