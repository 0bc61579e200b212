// Package testnet gives free local addresses to tests, the bench and the
// Asterisk instances they start.
package testnet

import (
	"fmt"
	"net"
	"testing"
)

// Free returns an address on host whose port is free for both TCP and UDP
// at the time of the call (an agent's DNS server takes both).
func Free(host string) (string, error) {
	for range 50 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		pc.Close()
		if err == nil {
			ln.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no port of %s free for both TCP and UDP", host)
}

// FreeAddr is Free for a test: it fails the test when no port is free.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	addr, err := Free(host)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
