package raftstore

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// A forward whose request may have reached the leader is uncertain, not
// retried: a retry would apply the write a second time, after writes
// other clients made in between. Only a connection never made is retried.
// (Before, every failure read as "no leader" and propose sent it again.)
func TestForwardFailureIsRetriedOnlyWhenNothingLeft(t *testing.T) {
	ops := []store.Op{{Kind: store.OpWrite, Muts: []store.Mutation{{Table: "extensions", Key: "6105", Patch: pbx.Fields{"fullname": "x"}}}}}
	took := make(chan struct{}, 1)
	leader := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // the leader has the write...
		took <- struct{}{}
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close() // ...and the answer is lost
		}
	}))
	defer leader.Close()
	f := NewHTTPForwarder(leader.Client().Transport.(*http.Transport).TLSClientConfig)
	addr := strings.TrimPrefix(leader.URL, "https://")

	_, err := f.Forward(context.Background(), addr, ops)
	<-took
	if !errors.Is(err, ErrUncertain) || errors.Is(err, ErrNoLeader) {
		t.Fatalf("answer lost after the leader read the write: %v, want ErrUncertain only", err)
	}

	// The leader itself does not know (its leadership moved while the
	// entry was in its log): the follower does not retry either.
	deposed := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "write outcome unknown: leadership moved", http.StatusGatewayTimeout)
	}))
	defer deposed.Close()
	if _, err := f.Forward(context.Background(), strings.TrimPrefix(deposed.URL, "https://"), ops); !errors.Is(err, ErrUncertain) || errors.Is(err, ErrNoLeader) {
		t.Fatalf("leader unsure: %v, want ErrUncertain only", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := f.Forward(context.Background(), closed, ops); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("leader not reachable: %v, want ErrNoLeader (retried)", err)
	}
}
