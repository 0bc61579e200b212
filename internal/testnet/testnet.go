// Package testnet gives tests free local addresses.
package testnet

import (
	"net"
	"testing"
)

// FreeAddr returns an address on host whose port is free for both TCP and
// UDP at the time of the call (an agent's DNS server takes both).
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	for range 50 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		pc.Close()
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}
