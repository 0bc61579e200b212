package bench

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The load run's client against net/http's server: a body with a length,
// a chunked one, a refusal, and a server that closes the connection; each
// client keeps its one connection while the server lets it.
func TestRawClientReadsWhatNetHTTPWrites(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			w.Write([]byte("hello"))
		case "/chunked":
			for i := 0; i < 3; i++ {
				w.Write([]byte(strings.Repeat("x", 5000)))
				w.(http.Flusher).Flush()
			}
		case "/shed":
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newRawClient(srv.Listener.Addr().String(), "tok", 5*time.Second)
	defer c.Close()
	for _, step := range []struct {
		target string
		code   int
		conns  int32
	}{
		{"/length", 200, 1}, {"/chunked?x=1", 200, 1}, {"/shed", 503, 1}, {"/length", 200, 1},
		{"/close", 200, 1}, {"/length", 200, 2}, {"/chunked", 200, 2},
	} {
		code, ct, err := c.get(step.target)
		if err != nil || code != step.code {
			t.Fatalf("GET %s: %d, %v; want %d", step.target, code, err, step.code)
		}
		if got := conns.Load(); got != step.conns {
			t.Fatalf("after GET %s the server saw %d connections, want %d", step.target, got, step.conns)
		}
		if ct.answer <= 0 {
			t.Fatalf("GET %s: no answer time", step.target)
		}
	}
	bad := newRawClient(srv.Listener.Addr().String(), "wrong", 5*time.Second)
	defer bad.Close()
	if code, _, err := bad.get("/length"); err != nil || code != 401 {
		t.Fatalf("a wrong token: %d, %v; want 401", code, err)
	}
}

// readResponse never panics, and what it accepts has a status code.
func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX: y\r\n\r\n")
	f.Add("HTTP/1.0 503 Service Unavailable\r\n\r\nbusy")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		code, _, err := readResponse(bufio.NewReaderSize(strings.NewReader(s), 64))
		if err == nil && (code < 100 || code > 999) {
			t.Fatalf("accepted status %d from %q", code, s)
		}
	})
}
