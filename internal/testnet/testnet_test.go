package testnet

import (
	"net"
	"strconv"
	"testing"
)

// Free gives ports below the kernel's ephemeral range, which no outgoing
// connection takes meanwhile, and each is bindable for UDP and TCP.
func TestFreeIsBelowTheEphemeralRange(t *testing.T) {
	hi := ephemeralLow()
	if hi-lowestPort < 1000 {
		t.Skipf("the ephemeral range starts at %d: no room below it", hi)
	}
	for range 20 {
		addr := FreeAddr(t, "127.0.0.1")
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		if port < lowestPort || port >= hi {
			t.Fatalf("%s: port outside %d..%d", addr, lowestPort, hi-1)
		}
		if !bothFree(addr) {
			t.Fatalf("%s is not free for both TCP and UDP", addr)
		}
	}
}
