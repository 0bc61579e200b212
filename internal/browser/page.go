package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"syscall"
	"time"
)

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its value into out (when not nil). An exception is an error
// with its message.
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := b.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return err
	}
	if e := res.Exception; e != nil {
		msg := e.Exception.Description
		if msg == "" {
			msg = e.Text
		}
		return fmt.Errorf("browser: %s: %s", expr, msg)
	}
	if out == nil || res.Result.Type == "undefined" {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// WaitFor polls a JavaScript condition until it is true or ctx ends.
func (b *Browser) WaitFor(ctx context.Context, cond string) error {
	err := poll(ctx, b.exited, func() (bool, error) {
		var ok bool
		if err := b.Eval(ctx, "!!("+cond+")", &ok); err != nil {
			return false, nil // the page may be between documents
		}
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("browser: waiting for %s: %w", cond, err)
	}
	return nil
}

// The old document carries this mark; a new document does not.
const mark = "window.__pbxtopoOldDocument"

func (b *Browser) waitNewDocument(ctx context.Context) error {
	return b.WaitFor(ctx, "!"+mark+` && document.readyState === "complete"`)
}

// Navigate loads url and waits until the new document (after any
// redirects) has loaded.
func (b *Browser) Navigate(ctx context.Context, url string) error {
	if err := b.Eval(ctx, mark+" = true", nil); err != nil {
		return err
	}
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.Call(ctx, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("browser: navigate to %s: %s", url, res.ErrorText)
	}
	return b.waitNewDocument(ctx)
}

// Click clicks the first element that matches a CSS selector.
func (b *Browser) Click(ctx context.Context, selector string) error {
	sel, _ := json.Marshal(selector)
	return b.Eval(ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%s);
		if (!e) throw new Error("nothing matches " + %s); e.click(); })()`, sel, sel), nil)
}

// ClickAndWait clicks an element that loads another document (a link, a
// submit button) and waits until that document has loaded.
func (b *Browser) ClickAndWait(ctx context.Context, selector string) error {
	if err := b.Eval(ctx, mark+" = true", nil); err != nil {
		return err
	}
	if err := b.Click(ctx, selector); err != nil {
		return err
	}
	return b.waitNewDocument(ctx)
}

// SetValue sets the value of a form field.
func (b *Browser) SetValue(ctx context.Context, selector, value string) error {
	sel, _ := json.Marshal(selector)
	val, _ := json.Marshal(value)
	return b.Eval(ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%s);
		if (!e) throw new Error("nothing matches " + %s); e.value = %s; })()`, sel, sel, val), nil)
}

// Texts returns the text of every element that matches a selector.
func (b *Browser) Texts(ctx context.Context, selector string) ([]string, error) {
	sel, _ := json.Marshal(selector)
	var out []string
	err := b.Eval(ctx, fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.textContent.trim())`, sel), &out)
	return out, err
}

// Screenshot saves the whole page (not only the window) as a PNG file.
func (b *Browser) Screenshot(ctx context.Context, path string) error {
	var m struct {
		Content struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	if err := b.Call(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
		return err
	}
	var shot struct {
		Data string `json:"data"`
	}
	clip := map[string]any{"x": 0, "y": 0, "width": math.Ceil(m.Content.Width), "height": math.Ceil(m.Content.Height), "scale": 1}
	if err := b.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true, "clip": clip}, &shot); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return fmt.Errorf("browser: screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}

// Close stops Chromium and its helpers and removes its profile. Safe to
// call twice.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		if b.ws != nil {
			b.ws.Close()
			<-b.done
		}
		b.kill(b.exited)
	})
	return nil
}

// kill ends the process group Launch started, waits for the browser to
// exit, and removes the profile.
func (b *Browser) kill(exited <-chan struct{}) {
	if b.cmd.Process != nil {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
	}
	os.RemoveAll(b.dir)
}
