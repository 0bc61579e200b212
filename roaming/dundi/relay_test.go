package dundi

import (
	"net"
	"net/netip"
	"sync"
	"testing"
)

// relay forwards UDP between clients and one target, and may drop or
// record packets: client → front → (back) → target, and back again. It is
// the lossy network of the retransmission tests.
type relay struct {
	front, back *net.UDPConn
	target      netip.AddrPort

	mu     sync.Mutex
	client netip.AddrPort
	drop   func(toTarget bool, n int, b []byte) bool // n counts packets per direction
	n      [2]int
	seen   [][]byte // every packet toward the target, in order
}

func newRelay(t testing.TB, target netip.AddrPort) *relay {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	front, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{front: front, back: back, target: target}
	var wg sync.WaitGroup
	wg.Add(2)
	go r.pump(&wg, front, true)
	go r.pump(&wg, back, false)
	t.Cleanup(func() {
		front.Close()
		back.Close()
		wg.Wait()
	})
	return r
}

// addr is where clients send.
func (r *relay) addr() netip.AddrPort { return r.front.LocalAddr().(*net.UDPAddr).AddrPort() }

func (r *relay) setDrop(f func(toTarget bool, n int, b []byte) bool) {
	r.mu.Lock()
	r.drop = f
	r.mu.Unlock()
}

func (r *relay) packets() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.seen...)
}

func (r *relay) pump(wg *sync.WaitGroup, from *net.UDPConn, toTarget bool) {
	defer wg.Done()
	buf := make([]byte, 65536)
	for {
		n, src, err := from.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		b := append([]byte(nil), buf[:n]...)
		r.mu.Lock()
		dir := 0
		if !toTarget {
			dir = 1
		}
		r.n[dir]++
		count := r.n[dir]
		drop := r.drop != nil && r.drop(toTarget, count, b)
		var to netip.AddrPort
		var via *net.UDPConn
		if toTarget {
			r.client = src
			r.seen = append(r.seen, b)
			to, via = r.target, r.back
		} else {
			to, via = r.client, r.front
		}
		r.mu.Unlock()
		if !drop && to.IsValid() {
			via.WriteToUDPAddrPort(b, to)
		}
	}
}
