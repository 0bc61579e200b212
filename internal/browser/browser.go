package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/websocket"
)

// ErrNoChromium is returned by Find when no Chromium is installed.
var ErrNoChromium = errors.New("browser: no chromium found (install the Debian packages chromium and chromium-driver, or set PBXTOPO_CHROMIUM)")

// Find returns the Chromium binary: $PBXTOPO_CHROMIUM, or the first of
// chromium, chromium-browser, google-chrome on PATH.
func Find() (string, error) {
	if p := os.Getenv("PBXTOPO_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Options say how to start Chromium.
type Options struct {
	Binary        string    // from Find when empty
	Width, Height int       // the window [1600x1000]
	Log           io.Writer // Chromium's own output; nil discards it
}

// Browser is one headless Chromium with one page.
type Browser struct {
	cmd    *exec.Cmd
	dir    string
	ws     *websocket.Conn
	done   chan struct{} // closed when the reader stops
	exited chan struct{} // closed when chromium exits

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan reply
	readErr error

	closeOnce sync.Once
}

type reply struct {
	Result json.RawMessage
	Err    error
}

// Launch starts Chromium and connects to its page.
func Launch(ctx context.Context, opts Options) (*Browser, error) {
	if opts.Binary == "" {
		var err error
		if opts.Binary, err = Find(); err != nil {
			return nil, err
		}
	}
	if opts.Width == 0 {
		opts.Width, opts.Height = 1600, 1000
	}
	dir, err := os.MkdirTemp("", "pbxtopo-chromium-")
	if err != nil {
		return nil, err
	}
	b := &Browser{dir: dir, done: make(chan struct{}), pending: map[int64]chan reply{}}
	b.cmd = exec.Command(opts.Binary,
		// What the machine needs: no sandbox (root, containers), no GPU,
		// no network of its own (no internet here), a fresh profile.
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
		"--hide-scrollbars", "--user-data-dir="+dir,
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--remote-allow-origins=http://127.0.0.1",
		fmt.Sprintf("--window-size=%d,%d", opts.Width, opts.Height),
		"about:blank")
	b.cmd.Stdout, b.cmd.Stderr = opts.Log, opts.Log
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Close kills its helpers too
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("browser: start %s: %w", opts.Binary, err)
	}
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }()
	if err := b.connect(ctx, exited); err != nil {
		b.kill(exited)
		return nil, err
	}
	go b.read()
	b.exited = exited
	return b, nil
}

// connect waits for the debugging port, then opens the page's WebSocket.
func (b *Browser) connect(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var port int
	var wsURL string
	err := poll(ctx, exited, func() (bool, error) {
		if port == 0 {
			data, err := os.ReadFile(filepath.Join(b.dir, "DevToolsActivePort"))
			if err != nil {
				return false, nil
			}
			line, _, _ := strings.Cut(string(data), "\n")
			if port, err = strconv.Atoi(strings.TrimSpace(line)); err != nil || port == 0 {
				port = 0
				return false, nil
			}
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/json/list", port))
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		var targets []struct{ Type, WebSocketDebuggerURL string }
		if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
			return false, nil
		}
		for _, t := range targets {
			if t.Type == "page" && t.WebSocketDebuggerURL != "" {
				wsURL = t.WebSocketDebuggerURL
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("browser: chromium did not open its debugging port: %w", err)
	}
	cfg, err := websocket.NewConfig(wsURL, "http://127.0.0.1")
	if err != nil {
		return err
	}
	if b.ws, err = websocket.DialConfig(cfg); err != nil {
		return fmt.Errorf("browser: connect to %s: %w", wsURL, err)
	}
	b.ws.MaxPayloadBytes = 128 << 20 // full-page screenshots
	return nil
}

// poll calls fn every 50 ms until it is done, fails, ctx ends or the
// browser exits.
func poll(ctx context.Context, exited <-chan struct{}, fn func() (bool, error)) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		done, err := fn()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("chromium exited")
		case <-t.C:
		}
	}
}

type message struct {
	ID     int64           `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params any             `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// read hands every answer to its caller; events are not used.
func (b *Browser) read() {
	defer close(b.done)
	for {
		var m message
		if err := websocket.JSON.Receive(b.ws, &m); err != nil {
			b.mu.Lock()
			b.readErr = fmt.Errorf("browser: connection lost: %w", err)
			for id, ch := range b.pending {
				ch <- reply{Err: b.readErr}
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		if m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch == nil {
			continue
		}
		r := reply{Result: m.Result}
		if m.Error != nil {
			r.Err = fmt.Errorf("browser: %d %s", m.Error.Code, m.Error.Message)
		}
		ch <- r
	}
}

// Call sends one DevTools method and decodes its result into out (when
// not nil).
func (b *Browser) Call(ctx context.Context, method string, params, out any) error {
	ch := make(chan reply, 1)
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return b.readErr
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	err := websocket.JSON.Send(b.ws, message{ID: id, Method: method, Params: params})
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("browser: %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("%s: %w", method, r.Err)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("browser: %s: %w", method, ctx.Err())
	}
}
