package bench

import (
	"context"
	"fmt"
	mrand "math/rand"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/roaming/dundi"
	"golang.org/x/net/ipv4"
)

// inFlight is one run of the closed-loop generator.
type inFlight struct {
	answered int             // answers received within the window
	total    int             // answers received, warm-up and drain included
	lat      []time.Duration // latencies of the queries sent within the window
	drops    int             // of those, never answered within dropAfter
	refused  int             // of those, answered with a cause instead of answers
	took     time.Duration   // the window
}

func (r inFlight) rate() float64 { return float64(r.answered) / r.took.Seconds() }

// dropAfter is how long a query may stay unanswered before it counts as
// dropped and a new one takes its place: a DUNDi peer would send it again
// then (Asterisk's retransmission timer).
const dropAfter = time.Second

// lookupsInFlight keeps n clear DPDISCOVERs (from eid, for random numbers
// of priv) outstanding at to: each answer is acknowledged and replaced by
// a new query at once, from one socket. The n queries start 16 per
// millisecond, and the first tenth of d (at least 200 ms) warms up; the
// figures cover the d after it. An answer must carry want answers; one
// with another count fails the measurement.
func lookupsInFlight(ctx context.Context, to netip.AddrPort, eid dundi.EID, n, want, numbers int, d time.Duration) (inFlight, error) {
	var res inFlight
	if n > 30000 {
		return res, fmt.Errorf("%d in flight: DUNDi transaction ids allow 32767", n)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return res, err
	}
	defer conn.Close()
	conn.SetReadBuffer(8 << 20)
	conn.SetWriteBuffer(8 << 20)
	var (
		mu     sync.Mutex
		sent   = map[uint16]time.Time{} // outstanding queries by transaction id
		last   uint16
		rnd    = mrand.New(mrand.NewSource(int64(n)))
		stop   bool
		badErr error
		from   time.Time // the window
		until  time.Time
	)
	inWindow := func(t time.Time) bool { return !from.IsZero() && !t.Before(from) && t.Before(until) }
	toUDP := net.UDPAddrFromAddrPort(to)
	// next starts one query and returns it, to send; called with mu held.
	next := func() []byte {
		for {
			last = last%32767 + 1
			if _, busy := sent[last]; !busy {
				break
			}
		}
		sent[last] = time.Now()
		return query(last, eid, strconv.Itoa(100000+rnd.Intn(numbers)))
	}
	send := func() error {
		_, err := conn.WriteToUDPAddrPort(next(), to)
		return err
	}
	recvDone := make(chan struct{})
	// The answers are read, and their ACKs and the queries that replace
	// them sent, a batch per system call (recvmmsg, sendmmsg): the
	// generator shares the CPUs with the server it measures, so the less
	// it costs, the more the figures say about the server.
	go func() {
		defer close(recvDone)
		pc := ipv4.NewPacketConn(conn)
		in := make([]ipv4.Message, 64)
		for i := range in {
			in[i].Buffers = [][]byte{make([]byte, 9000)}
		}
		var out []ipv4.Message
		for {
			k, err := pc.ReadBatch(in, 0)
			if err != nil {
				return
			}
			now := time.Now()
			out = out[:0]
			mu.Lock()
			for _, msg := range in[:k] {
				f, err := dundi.DecodeFrame(msg.Buffers[0][:msg.N])
				if err != nil || f.Cmd != dundi.CmdDPResponse {
					continue // Asterisk's ACK before its answer
				}
				// Every copy is acknowledged, as a peer does.
				ack := dundi.Header{STrans: f.DTrans, DTrans: f.STrans, ISeqno: f.OSeqno + 1, OSeqno: 1, Cmd: dundi.CmdACK, Final: true}
				b, _ := (&dundi.Frame{Header: ack}).Encode(nil)
				out = append(out, ipv4.Message{Buffers: [][]byte{b}, Addr: msg.Addr})
				t0, ok := sent[f.Dst()]
				if !ok {
					continue
				}
				delete(sent, f.Dst())
				m, perr := dundi.ParseMessage(f)
				switch {
				case perr != nil:
					badErr = fmt.Errorf("answer to query %d: %w", f.Dst(), perr)
				case m.Cause > 0:
					if inWindow(t0) {
						res.refused++
					}
				case len(m.Answers) != want:
					badErr = fmt.Errorf("answer to query %d: %d answers, want %d", f.Dst(), len(m.Answers), want)
				default:
					res.total++
					if inWindow(now) {
						res.answered++
					}
					if inWindow(t0) {
						res.lat = append(res.lat, now.Sub(t0))
					}
				}
				if !stop {
					out = append(out, ipv4.Message{Buffers: [][]byte{next()}, Addr: toUDP})
				}
			}
			mu.Unlock()
			for len(out) > 0 {
				n, err := pc.WriteBatch(out, 0)
				if err != nil {
					mu.Lock()
					if badErr == nil {
						badErr = err
					}
					mu.Unlock()
					break
				}
				out = out[n:]
			}
		}
	}()
	start := time.Now()
	for i := range n {
		mu.Lock()
		err := send()
		mu.Unlock()
		if err != nil {
			return res, err
		}
		if i%16 == 15 {
			time.Sleep(time.Millisecond)
		}
	}
	mu.Lock()
	from = start.Add(max(200*time.Millisecond, d/10))
	until = from.Add(d)
	mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case now := <-tick.C:
			mu.Lock()
			for id, t0 := range sent {
				if now.Sub(t0) > dropAfter {
					delete(sent, id)
					if inWindow(t0) {
						res.drops++
					}
					if !stop {
						send()
					}
				}
			}
			if !stop && !now.Before(until) {
				stop = true
			}
			if stop && (len(sent) == 0 || now.Sub(until) > dropAfter) {
				for _, t0 := range sent {
					if inWindow(t0) {
						res.drops++
					}
				}
				err := badErr
				mu.Unlock()
				conn.Close()
				<-recvDone
				res.took = d
				return res, err
			}
			mu.Unlock()
		}
	}
}
