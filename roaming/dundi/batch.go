package dundi

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Datagrams go in and out several per system call (recvmmsg and sendmmsg
// on Linux; x/net falls back to one per call elsewhere). Under load the
// system calls, not the lookups, were most of a lookup's cost: two reads
// and a write each, every one also a wake-up of the read loop.

// batchSize is the most datagrams one system call moves.
const batchSize = 64

// batchConn is the part of x/net's ipv4 and ipv6 PacketConn used here
// (their Message types are the same).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchConn(c *net.UDPConn) batchConn {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		return ipv6.NewPacketConn(c)
	}
	return ipv4.NewPacketConn(c)
}

// received is one datagram read from the socket.
type received struct {
	data []byte
	from netip.AddrPort
}

// batchReader reads up to batchSize datagrams per call into buffers of its
// own, which the next call reuses.
type batchReader struct {
	conn batchConn
	msgs []ipv4.Message
	pkts []received
}

func newBatchReader(conn batchConn) *batchReader {
	r := &batchReader{conn: conn, msgs: make([]ipv4.Message, batchSize), pkts: make([]received, 0, batchSize)}
	for i := range r.msgs {
		// One byte more than the largest packet: a datagram that fills
		// it is oversized (the kernel cuts it to the buffer).
		r.msgs[i].Buffers = [][]byte{make([]byte, MaxPacket+1)}
	}
	return r
}

// read waits for at least one datagram and returns those that came.
func (r *batchReader) read() ([]received, error) {
	n, err := r.conn.ReadBatch(r.msgs, 0)
	r.pkts = r.pkts[:0]
	for i := range n {
		m := &r.msgs[i]
		ua, ok := m.Addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		from := ua.AddrPort()
		r.pkts = append(r.pkts, received{data: m.Buffers[0][:m.N], from: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())})
	}
	return r.pkts, err
}

// batchWriter holds what one sendmmsg needs, reused through writers.
type batchWriter struct {
	msgs  []ipv4.Message
	bufs  [batchSize][1][]byte
	addrs [batchSize]net.UDPAddr
}

var writers = sync.Pool{New: func() any { return &batchWriter{msgs: make([]ipv4.Message, batchSize)} }}

// writeAll sends the packets, a batch per system call. A packet the batch
// cannot send is tried alone, which logs its own error, and the rest go on.
func (p *Peer) writeAll(out []outgoing) {
	if len(out) == 1 {
		p.writeOne(out[0])
		return
	}
	w := writers.Get().(*batchWriter)
	defer writers.Put(w)
	for len(out) > 0 {
		k := min(len(out), batchSize)
		for i, o := range out[:k] {
			setUDPAddr(&w.addrs[i], o.to)
			w.bufs[i][0] = o.data
			w.msgs[i] = ipv4.Message{Buffers: w.bufs[i][:], Addr: &w.addrs[i]}
		}
		n, err := p.batch.WriteBatch(w.msgs[:k], 0)
		n = max(n, 0)
		p.stats.sent.Add(uint64(n))
		if n < k && (err != nil || n == 0) {
			p.writeOne(out[n])
			n++
		}
		out = out[n:]
	}
	for i := range w.bufs {
		w.bufs[i][0] = nil // the pool must not keep packets alive
	}
}

func (p *Peer) writeOne(o outgoing) {
	if _, err := p.conn.WriteToUDPAddrPort(o.data, o.to); err != nil {
		p.log.Debug("dundi: send failed", "to", o.to, "err", err)
		return
	}
	p.stats.sent.Add(1)
}

// setUDPAddr makes ua the address ap, reusing its IP's array.
func setUDPAddr(ua *net.UDPAddr, ap netip.AddrPort) {
	a := ap.Addr()
	if a.Is4() {
		b := a.As4()
		ua.IP = append(ua.IP[:0], b[:]...)
	} else {
		b := a.As16()
		ua.IP = append(ua.IP[:0], b[:]...)
	}
	ua.Port, ua.Zone = int(ap.Port()), a.Zone()
}
