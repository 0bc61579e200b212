package browser

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Launch starts a headless Chromium for a test, or skips it when none is
// installed.
func launch(t *testing.T) *Browser {
	t.Helper()
	if _, err := Find(); errors.Is(err, ErrNoChromium) {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Launch(ctx, Options{Width: 800, Height: 600})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestNavigateClickReadScreenshot(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!DOCTYPE html><title>one</title><ul><li>b</li><li>a</li></ul>
<a id="go" href="/two">two</a><button id="flip" onclick="document.querySelector('ul').remove()">x</button>`))
	})
	mux.HandleFunc("/two", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/three", http.StatusSeeOther) })
	mux.HandleFunc("/three", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!DOCTYPE html><title>three</title><p style="height:2000px">tall</p>`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Navigate(ctx, srv.URL+"/"); err != nil {
		t.Fatal(err)
	}
	items, err := b.Texts(ctx, "li")
	if err != nil || !reflect.DeepEqual(items, []string{"b", "a"}) {
		t.Fatalf("Texts = %v %v", items, err)
	}
	if err := b.Click(ctx, "#flip"); err != nil {
		t.Fatal(err)
	}
	if items, _ := b.Texts(ctx, "li"); len(items) != 0 {
		t.Fatalf("click did not run the page's handler: %v", items)
	}
	if err := b.Click(ctx, "#nothing"); err == nil || !strings.Contains(err.Error(), "nothing matches") {
		t.Fatalf("click on nothing = %v", err)
	}
	if err := b.ClickAndWait(ctx, "#go"); err != nil {
		t.Fatal(err)
	}
	var title string
	if err := b.Eval(ctx, "document.title + location.pathname", &title); err != nil || title != "three/three" {
		t.Fatalf("after the redirect: %q %v", title, err)
	}
	path := filepath.Join(t.TempDir(), "page.png")
	if err := b.Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n")) {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	// The whole page: 2000 px tall although the window is 600.
	if h := int(png[20])<<24 | int(png[21])<<16 | int(png[22])<<8 | int(png[23]); h < 2000 {
		t.Fatalf("screenshot height %d, want the whole page", h)
	}
	if err := b.Eval(ctx, "nosuchfunction()", nil); err == nil || !strings.Contains(err.Error(), "nosuchfunction is not defined") {
		t.Fatalf("exception = %v", err)
	}
	if err := b.Navigate(ctx, "http://127.0.0.1:1/"); err == nil {
		t.Fatal("navigating to a closed port succeeded")
	}
	b.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Eval(ctx, "1", nil); err == nil {
		t.Fatal("Eval after Close succeeded")
	}
}
