package httpapi

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/service"
)

// TestFailureTableIsBounded: a flood of failed authentications from more
// addresses than the table tracks keeps it at its bound; past it the new
// addresses share one limit, a valid token still passes from them, and
// the addresses of one IPv6 /64 count as one.
func TestFailureTableIsBounded(t *testing.T) {
	auth := NewTokenAuth(map[string]Token{"good-token-0123456789": {service.RoleAdmin, "root"}}, nil)
	try := func(addr, token string) int {
		r := httptest.NewRequest("GET", "/v1/extensions", nil)
		r.RemoteAddr = addr
		r.Header.Set("Authorization", "Bearer "+token)
		if _, _, err := auth.Authenticate(r); err != nil {
			return err.(*service.Error).Code
		}
		return 200
	}
	for i := 0; i < authFailClients+authFailMax+5; i++ {
		addr := fmt.Sprintf("10.%d.%d.%d:5060", i>>16&255, i>>8&255, i&255)
		if c := try(addr, "wrong"); c != 401 && i < authFailClients+authFailMax {
			t.Fatalf("failure %d from a new address got %d, want 401", i, c)
		}
	}
	if n := len(auth.failures); n > authFailClients+1 {
		t.Fatalf("the failure table holds %d addresses, want at most %d", n, authFailClients+1)
	}
	if c := try("10.200.0.1:5060", "wrong"); c != 429 {
		t.Fatalf("a new address past the bound, with the shared limit spent, got %d, want 429", c)
	}
	if c := try("10.200.0.1:5060", "good-token-0123456789"); c != 200 {
		t.Fatalf("a valid token from an address past the bound got %d, want 200", c)
	}

	v6 := NewTokenAuth(nil, nil)
	auth = v6
	for i := 0; i < authFailMax; i++ {
		if c := try(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "wrong"); c != 401 {
			t.Fatalf("IPv6 failure %d got %d, want 401", i, c)
		}
	}
	if c := try("[2001:db8:1:2:ffff::9]:443", "wrong"); c != 429 {
		t.Fatalf("another address of the same /64 got %d, want 429", c)
	}
	if c := try("[2001:db8:1:3::1]:443", "wrong"); c != 401 {
		t.Fatalf("an address of another /64 got %d, want 401", c)
	}
}

// TestExpiredFailuresLeaveTheTable: when the table is full, addresses
// whose failures are older than the window make room for new ones.
func TestExpiredFailuresLeaveTheTable(t *testing.T) {
	auth := NewTokenAuth(nil, nil)
	start := time.Now()
	auth.now = func() time.Time { return start }
	fail := func(addr string) int {
		r := httptest.NewRequest("GET", "/v1/extensions", nil)
		r.RemoteAddr = addr + ":5060"
		_, _, err := auth.Authenticate(r)
		return err.(*service.Error).Code
	}
	for i := 0; i < authFailClients; i++ {
		fail(fmt.Sprintf("10.0.%d.%d", i>>8, i&255))
	}
	auth.now = func() time.Time { return start.Add(authFailWindow) }
	if c := fail("192.0.2.1"); c != 401 {
		t.Fatalf("a new address got %d, want 401", c)
	}
	if _, ok := auth.failures["192.0.2.1"]; !ok || len(auth.failures) != 1 {
		t.Fatalf("after the window the table holds %d addresses (new one tracked: %v), want only the new one", len(auth.failures), ok)
	}
}
