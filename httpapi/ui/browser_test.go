package ui

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/browser"
)

// screenshotDir is where the browser test saves its screenshots:
// $PBXTOPO_SCREENSHOTS, or the test's temporary directory.
// page is headless Chromium for one test: must fails the test on an
// error, eval returns a JavaScript expression's value as a string.
type page struct {
	t   *testing.T
	ctx context.Context
	b   *browser.Browser
}

func launch(t *testing.T, height int) *page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	b, err := browser.Launch(ctx, browser.Options{Width: 1600, Height: height})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &page{t: t, ctx: ctx, b: b}
}

func (p *page) must(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
}

func (p *page) eval(expr string) string {
	p.t.Helper()
	var s string
	p.must(p.b.Eval(p.ctx, expr, &s))
	return s
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("PBXTOPO_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPagesInChromium loads every page in a real headless Chromium: logs
// in with a token, checks the content and the stylesheet, sorts tables
// by clicking their headers, resolves a conflict as admin, and saves a
// screenshot of each page.
func TestPagesInChromium(t *testing.T) {
	if _, err := browser.Find(); errors.Is(err, browser.ErrNoChromium) {
		t.Skip(err)
	}
	svc := sampleWithConflict(t)
	srv, _ := newServer(t, svc, testAuth(slog.New(slog.DiscardHandler)), false)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)

	p := launch(t, 1000)
	ctx, b, must, eval := p.ctx, p.b, p.must, p.eval
	texts := func(sel string) []string {
		t.Helper()
		s, err := b.Texts(ctx, sel)
		must(err)
		return s
	}
	shot := func(name string) {
		t.Helper()
		must(b.Screenshot(ctx, filepath.Join(shots, name+".png")))
	}
	column := func(table string, i int) []string {
		return texts("#" + table + " tbody tr td:nth-child(" + string(rune('0'+i)) + ")")
	}
	login := func(token string) {
		t.Helper()
		must(b.Navigate(ctx, srv.URL+Prefix))
		if p := eval("location.pathname"); p != "/ui/login" {
			t.Fatalf("without a session the status page went to %s", p)
		}
		must(b.SetValue(ctx, "input[name=token]", token))
		must(b.ClickAndWait(ctx, "form.login button[type=submit]"))
		if p := eval("location.pathname"); p != "/ui/" {
			t.Fatalf("after login: %s", p)
		}
	}

	// A wrong token first.
	must(b.Navigate(ctx, srv.URL+Prefix+"login"))
	must(b.SetValue(ctx, "input[name=token]", "not-a-token-000000000"))
	must(b.ClickAndWait(ctx, "form.login button[type=submit]"))
	if m := texts("#login-message"); !reflect.DeepEqual(m, []string{"That token is not valid."}) {
		t.Fatalf("bad token message: %v", m)
	}
	shot("login")

	login(readToken)
	heads := texts("#board thead th")
	if !slices.Contains(heads, "tpa1 (here)tpa") || !slices.Contains(heads, "sfosfo") {
		t.Fatalf("board columns: %q", heads)
	}
	// The stylesheet is served and allowed: a failed cell is red.
	if bg := eval(`getComputedStyle(document.querySelector("#board td.s-fail")).backgroundColor`); bg != "rgb(217, 48, 37)" {
		t.Fatalf("a red cell is %s: the stylesheet did not apply", bg)
	}
	shot("status")

	must(b.ClickAndWait(ctx, `header nav a[href="/ui/services"]`))
	before := column("services", 1)
	must(b.Click(ctx, "#services thead th:nth-child(2) button")) // voice VIP, sorted in the page
	after := column("services", 1)
	if reflect.DeepEqual(before, after) || after[0] != "tpa2" {
		t.Fatalf("sorting by voice VIP: %v → %v", before, after)
	}
	must(b.Click(ctx, "#services thead th:nth-child(2) button")) // again: descending
	if again := column("services", 1); again[0] != "lon" {
		t.Fatalf("sorting by voice VIP descending: %v", again)
	}
	shot("services")

	must(b.ClickAndWait(ctx, `header nav a[href="/ui/roaming"]`))
	before = column("roaming", 6)
	must(b.Click(ctx, "#roaming thead th:nth-child(6) button")) // user name
	after = column("roaming", 6)
	if reflect.DeepEqual(before, after) || !slices.IsSortedFunc(after, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }) {
		t.Fatalf("sorting by user name: %v → %v", before, after)
	}
	if n := texts("#roaming tr.s-fail td:nth-child(6)"); !reflect.DeepEqual(n, []string{hostileName}) {
		t.Fatalf("the critical row: %q (a hostile name must show as text)", n)
	}
	shot("roaming")

	must(b.ClickAndWait(ctx, `header nav a[href="/ui/groups"]`))
	must(b.ClickAndWait(ctx, `nav.groups a[href="/ui/groups?group=IT"]`))
	before = column("groups", 4)
	must(b.ClickAndWait(ctx, "#groups thead th:nth-child(4) a")) // user name, sorted by the server
	after = column("groups", 4)
	if reflect.DeepEqual(before, after) || after[0] != "Alison Moyer" || texts("#sorted-by")[0] != "name" {
		t.Fatalf("sorting by user name: %v → %v", before, after)
	}
	shot("groups")
	must(b.SetValue(ctx, "input[name=search]", "fenwick"))
	must(b.ClickAndWait(ctx, "form.filter button[type=submit]"))
	if names := column("groups", 4); !reflect.DeepEqual(names, []string{"Andy Fenwick"}) {
		t.Fatalf("search fenwick: %v", names)
	}

	must(b.ClickAndWait(ctx, `header nav a[href="/ui/conflicts"]`))
	must(b.ClickAndWait(ctx, `#conflicts a[href="/ui/conflicts/extensions/sfo/5020"]`))
	if n := len(texts("button.keep")); n != 0 {
		t.Fatalf("the read role sees %d keep buttons", n)
	}
	if body := eval("document.body.innerText"); strings.Contains(body, "TpaSecret") || !strings.Contains(body, "********") {
		t.Fatal("the read role sees a secret")
	}
	shot("conflict-read")

	must(b.ClickAndWait(ctx, "header form button[type=submit]")) // log out
	if p := eval("location.pathname"); p != "/ui/login" {
		t.Fatalf("after logout: %s", p)
	}
	login(adminToken)
	must(b.Navigate(ctx, srv.URL+Prefix+"conflicts/extensions/sfo/5020"))
	if sides := texts(`table.conflict[data-field="name"] thead th`); len(sides) != 3 || !strings.Contains(sides[1]+sides[2], "(shown now)") {
		t.Fatalf("sides: %q", sides)
	}
	if differ := texts("table.conflict tr.differ th"); !reflect.DeepEqual(differ, []string{"name", "secret"}) {
		t.Fatalf("fields that differ: %q", differ)
	}
	shot("conflict-admin")
	must(b.ClickAndWait(ctx, `button.keep-all[type=submit]`))
	if f := texts("#flash"); len(f) != 1 || !strings.HasPrefix(f[0], "Resolved extensions/sfo/5020") {
		t.Fatalf("after keeping a side: %q (%s)", f, eval("document.body.innerText"))
	}
	if cs, _ := svc.Conflicts(bg); len(cs) != 0 {
		t.Fatalf("still %d conflicts", len(cs))
	}
	shot("conflicts-resolved")
}
