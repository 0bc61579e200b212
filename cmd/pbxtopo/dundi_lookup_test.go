package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/roaming/dundi"
)

type dir map[string][]dundi.Answer

func (d dir) Lookup(_ context.Context, number, dctx string) ([]dundi.Answer, error) {
	if dctx != "priv" {
		return nil, dundi.ErrUnknownContext
	}
	return d[number], nil
}

var keys = filepath.Join("..", "..", "roaming", "dundi", "testdata", "encrypted", "keys")

// responder runs a DUNDi peer (EID 0a) that knows us as 0b, clear from
// loopback, or encrypted with the test keys.
func responder(t *testing.T, encrypted bool) string {
	t.Helper()
	pc := dundi.PeerConfig{EID: "02:00:00:00:00:0b", Host: "127.0.0.1:9", Model: "inbound", Permit: []string{"priv"}}
	cfg := dundi.Config{Addr: "127.0.0.1:0", EID: "02:00:00:00:00:0a"}
	if encrypted {
		pc.PublicKey, cfg.PrivateKey = filepath.Join(keys, "dundiB.pub"), filepath.Join(keys, "dundiA.key")
	} else {
		pc.Unencrypted = true
	}
	cfg.Peers = []dundi.PeerConfig{pc}
	eid, _ := dundi.ParseEID("02:00:00:00:00:0a")
	d := dir{"6109": {
		{EID: eid, Tech: dundi.TechIAX2, Flags: dundi.FlagExists, Weight: 100, Dest: "priv:x@192.168.0.208/6109"},
		{EID: eid, Tech: dundi.TechIAX2, Flags: dundi.FlagExists, Weight: 0, Dest: "priv:x@192.168.0.218/6109"},
	}}
	p, err := dundi.New(cfg, dundi.Deps{Directory: d, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p.Addr().String()
}

var took = regexp.MustCompile(`completed in \d+ ms`)

func TestDundiLookupClear(t *testing.T) {
	addr := responder(t, false)
	out := mustRun(t, "dundi", "lookup", "6109@priv", "--peer", addr, "--eid", "02:00:00:00:00:0b")
	want := "  1.     0 IAX2/priv:x@192.168.0.218/6109 (EXISTS)\n     from 02:00:00:00:00:0a, expires in 30 s\n" +
		"  2.   100 IAX2/priv:x@192.168.0.208/6109 (EXISTS)\n     from 02:00:00:00:00:0a, expires in 30 s\n" +
		"DUNDi lookup completed in N ms\n"
	if got := took.ReplaceAllString(out, "completed in N ms"); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	out = mustRun(t, "dundi", "lookup", "7000@priv", "--peer", addr, "--eid", "02:00:00:00:00:0b")
	if !strings.HasPrefix(out, "DUNDi lookup returned no results.\n") {
		t.Errorf("no results: %q", out)
	}
	var js struct {
		Results []struct {
			Destination string `json:"destination"`
			Weight      int    `json:"weight"`
			Tech        string `json:"tech"`
			Flags       string `json:"flags"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "dundi", "lookup", "6109@priv", "--peer", addr, "--eid", "02:00:00:00:00:0b", "-o", "json")), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.Results) != 2 || js.Results[0].Tech != "IAX2" || js.Results[0].Flags != "EXISTS" || js.Results[1].Weight != 100 {
		t.Errorf("json: %+v", js)
	}
}

func TestDundiLookupEncrypted(t *testing.T) {
	addr := responder(t, true)
	out := mustRun(t, "dundi", "lookup", "6109@priv", "--peer", addr, "--eid", "02:00:00:00:00:0b",
		"--key", filepath.Join(keys, "dundiB.key"), "--peer-key", filepath.Join(keys, "dundiA.pub"))
	if !strings.Contains(out, "  1.     0 IAX2/priv:x@192.168.0.218/6109 (EXISTS)") {
		t.Errorf("output:\n%s", out)
	}
	// In clear, the peer refuses: exit 1 and say what to do.
	_, errs, code := pbxtopo(t, "dundi", "lookup", "6109@priv", "--peer", addr, "--eid", "02:00:00:00:00:0b")
	if code != 1 || !strings.Contains(errs, "NOAUTH (Unencrypted responses not permitted)") || !strings.Contains(errs, "give --key and --peer-key") {
		t.Errorf("clear query to an encrypted peer: exit %d\n%s", code, errs)
	}
}

func TestDundiLookupMistakes(t *testing.T) {
	addr := responder(t, false)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"dundi", "lookup", "6109@priv", "--peer", addr}, "give --eid"},
		{[]string{"dundi", "lookup", "@priv", "--peer", addr, "--eid", "02:00:00:00:00:0b"}, "give the number"},
		{[]string{"dundi", "lookup", "6109@priv", "--peer", addr, "--eid", "02:00:00:00:00:0c"}, "must list 02:00:00:00:00:0c with permit=priv"},
		{[]string{"dundi", "lookup", "6109@e164", "--peer", addr, "--eid", "02:00:00:00:00:0b"}, "Permission to context denied"},
		{[]string{"dundi", "lookup", "6109@priv", "--peer", addr, "--eid", "02:00:00"}, "want six hex pairs"},
		{[]string{"dundi", "lookup", "6109@priv", "--peer", addr, "--eid", "02:00:00:00:00:0b", "--peer-key", "x.pub"}, "give --key FILE"},
		{[]string{"dundi", "lookup", "6109@priv", "--peer", "127.0.0.1:9", "--eid", "02:00:00:00:00:0b", "--timeout", "200ms"}, "is a DUNDi peer listening there"},
	}
	for _, c := range cases {
		_, errs, code := pbxtopo(t, c.args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d\n%s\nwant %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
}

// TestLookupHintsByCause: the hint follows the refusal's cause, not the
// words of the message.
func TestLookupHintsByCause(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&dundi.RefusedError{Addr: "192.0.2.1:4520", Cause: dundi.CauseNoAuth}, "with permit=priv and accept clear queries"},
		{&dundi.RefusedError{Addr: "192.0.2.1:4520", Cause: dundi.CauseNoAuth, CauseText: "Unencrypted responses not permitted"}, "give --key and --peer-key"},
		{&dundi.RefusedError{Addr: "192.0.2.1:4520", EncRej: true}, "its inkey is our public key"},
		{fmt.Errorf("lookup: %w", dundi.ErrTimeout), "is a DUNDi peer listening there"},
		{fmt.Errorf("%w: NOAUTH in a message that is no refusal", errors.New("x")), "NOAUTH in a message"},
	} {
		got := lookupHint(tc.err, "02:00:00:00:00:01", "priv", false).Error()
		if !strings.Contains(got, tc.want) {
			t.Errorf("lookupHint(%v) = %q, want %q in it", tc.err, got, tc.want)
		}
		if _, ok := tc.err.(*dundi.RefusedError); ok && !errors.Is(tc.err, dundi.ErrRefused) {
			t.Errorf("%v is not ErrRefused", tc.err)
		}
	}
}
