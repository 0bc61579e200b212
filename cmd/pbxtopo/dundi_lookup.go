package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/roaming/dundi"
	"github.com/spf13/cobra"
)

// dundiLookupCmd asks one DUNDi peer for a number, like Asterisk's
// "dundi lookup NUMBER@CONTEXT", and prints the answers the same way.
func (a *app) dundiLookupCmd() *cobra.Command {
	var peer, peerEID, eid, key, peerKey, bind string
	var ttl int
	var bypass, debug bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "lookup NUMBER[@CONTEXT]",
		Short: "Ask a DUNDi peer for a number and print its answers like Asterisk's 'dundi lookup'",
		Long: `Asks one DUNDi peer (a real Asterisk or a pbxtopo agent) for NUMBER in the DUNDi
CONTEXT (e164 when omitted) and prints the answers as Asterisk's 'dundi lookup' does.

The peer must know you: its dundi.conf (or the agent's dundi.peers) needs a section for
--eid with permit=CONTEXT. Without --peer-key the query goes in clear (the peer must
accept clear queries from your address); with it, the query is encrypted to the peer's
public key and signed with --key, as Asterisk's inkey/outkey do.`,
		Example: `  pbxtopo dundi lookup 6109@priv --peer 10.0.0.218 --eid 02:00:00:00:99:01
  pbxtopo dundi lookup 6109@priv --peer 10.0.0.218:4520 --eid 02:00:00:00:99:01 \
      --key /var/lib/asterisk/keys/ops.key --peer-key /var/lib/asterisk/keys/tpa1.pub`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			number, dctx, _ := strings.Cut(args[0], "@")
			if number == "" {
				return usageErrorf("give the number to look up, e.g. 6109@priv")
			}
			if dctx == "" {
				dctx = "e164"
			}
			if eid == "" {
				eid = a.v.GetString("dundi.eid")
			}
			if eid == "" {
				return usageErrorf("give --eid (or PBXTOPO_DUNDI_EID): the entity id the peer knows you by, as in its dundi.conf [EID] section")
			}
			if key == "" {
				key = a.v.GetString("dundi.private_key")
			}
			if peerKey != "" && key == "" {
				return usageErrorf("--peer-key encrypts the query, which also needs your private key: give --key FILE")
			}
			format, err := a.format()
			if err != nil {
				return err
			}
			host, port, err := net.SplitHostPort(peer)
			if err != nil {
				host, port = peer, "4520"
			}
			target := net.JoinHostPort(host, port)
			pc := dundi.PeerConfig{EID: peerEID, Host: target, Model: "outbound", Include: []string{dctx}, PublicKey: peerKey, Unencrypted: peerKey == ""}
			cfg := dundi.Config{Addr: bind, EID: eid, PrivateKey: key, TTL: ttl, Peers: []dundi.PeerConfig{pc}}
			var trace func(string, *dundi.Frame, netip.AddrPort)
			if debug {
				var mu sync.Mutex
				trace = func(dir string, f *dundi.Frame, addr netip.AddrPort) {
					mu.Lock()
					dundi.Dump(a.stderr, dir, f, addr)
					mu.Unlock()
				}
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if debug {
				log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			p, err := dundi.New(cfg, dundi.Deps{Logger: log, Trace: trace})
			if err != nil {
				return userError{err}
			}
			// The peer runs until the command ends; the lookup has the timeout.
			runCtx, stop := context.WithCancel(a.ctx)
			done := make(chan error, 1)
			go func() { done <- p.Run(runCtx) }()
			defer func() { stop(); <-done }()
			ctx, cancel := context.WithTimeout(a.ctx, timeout)
			defer cancel()
			res, err := p.Lookup(ctx, number, dctx, dundi.LookupOptions{Bypass: bypass})
			if err != nil && (res == nil || !errors.Is(err, context.DeadlineExceeded)) {
				return userError{fmt.Errorf("dundi lookup %s@%s: %w", number, dctx, err)}
			}
			if format == "json" {
				var errs []string
				for _, e := range res.Errors {
					errs = append(errs, e.Error())
				}
				if res.Results == nil {
					res.Results = []dundi.Result{}
				}
				if err := printJSON(a.stdout, map[string]any{"number": number, "context": dctx, "results": res.Results,
					"errors": errs, "took_ms": res.Took.Milliseconds()}); err != nil {
					return err
				}
			} else if err := dundi.PrintResults(a.stdout, res.Results, res.Took); err != nil {
				return err
			}
			if err := res.Err(); err != nil {
				return userError{lookupHint(err, eid, dctx, peerKey != "")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&peer, "peer", "127.0.0.1:4520", "the DUNDi peer to ask, HOST[:PORT]")
	f.StringVar(&peerEID, "peer-eid", "", "the peer's entity id (informational)")
	f.StringVar(&eid, "eid", "", "our entity id, as the peer lists us (env PBXTOPO_DUNDI_EID)")
	f.StringVar(&key, "key", "", "our private key file (.key), to sign an encrypted query (env PBXTOPO_DUNDI_PRIVATE_KEY)")
	f.StringVar(&peerKey, "peer-key", "", "the peer's public key file (.pub): encrypt the query")
	f.StringVar(&bind, "bind", ":0", "local UDP address to send from")
	f.IntVar(&ttl, "ttl", 32, "hops the query may travel")
	f.BoolVar(&bypass, "bypass", false, "ask the peer not to answer from its cache")
	f.BoolVar(&debug, "debug", false, "print every frame as Asterisk's 'dundi set debug on' does")
	f.DurationVar(&timeout, "timeout", 15*time.Second, "give up after this long")
	return cmd
}

// lookupHint turns a failed lookup into a message that says what to check.
func lookupHint(err error, eid, dctx string, encrypted bool) error {
	msg := err.Error()
	var refused *dundi.RefusedError
	errors.As(err, &refused)
	switch {
	case errors.Is(err, dundi.ErrTimeout):
		return fmt.Errorf("%s: is a DUNDi peer listening there (UDP), and does a firewall let it answer?", msg)
	case refused == nil || refused.EncRej: // the message says what to check
		return err
	case refused.Cause == dundi.CauseNoAuth && strings.HasPrefix(refused.CauseText, "Unencrypted"): // Asterisk's words
		return fmt.Errorf("%s: the peer wants encrypted queries: give --key and --peer-key", msg)
	case refused.Cause == dundi.CauseNoAuth:
		how := "accept clear queries from this address"
		if encrypted {
			how = "hold our public key as its inkey"
		}
		return fmt.Errorf("%s: the peer must list %s with permit=%s and %s", msg, eid, dctx, how)
	}
	return err
}
