// Package testnet gives free local addresses to tests, the bench and the
// Asterisk instances they start.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// lowestPort is where Free starts looking: above the ports of the
// machine's own services.
const lowestPort = 10000

// Free returns an address on host whose port is free for both TCP and UDP
// at the time of the call (an agent's DNS server takes both). The port is
// below the kernel's ephemeral range where there is room: a port the
// kernel handed out for port 0 can be handed out again, to any outgoing
// connection of the tests running beside, before its user binds it (CI
// saw an agent's DNS server find its TCP port taken that way).
func Free(host string) (string, error) {
	if hi := ephemeralLow(); hi-lowestPort >= 1000 {
		for range 200 {
			addr := net.JoinHostPort(host, strconv.Itoa(lowestPort+rand.IntN(hi-lowestPort)))
			if bothFree(addr) {
				return addr, nil
			}
		}
	}
	for range 50 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		if bothFree(addr) {
			return addr, nil
		}
	}
	return "", fmt.Errorf("no port of %s free for both TCP and UDP", host)
}

// bothFree reports whether addr can be bound for UDP and TCP.
func bothFree(addr string) bool {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	defer pc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	lo, err := strconv.Atoi(strings.Fields(string(b) + " x")[0])
	if err != nil {
		return 32768
	}
	return lo
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
