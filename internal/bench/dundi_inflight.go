package bench

import (
	"context"
	"fmt"
	mrand "math/rand"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pbxtopo/pbxtopo/roaming/dundi"
)

// inFlight is one run of the closed-loop generator.
type inFlight struct {
	answered int             // queries answered within the window
	lat      []time.Duration // their latencies
	drops    int             // queries never answered within dropAfter
	refused  int             // answered with a cause instead of answers
	took     time.Duration   // the window
}

func (r inFlight) rate() float64 { return float64(r.answered) / r.took.Seconds() }

// dropAfter is how long a query may stay unanswered before it counts as
// dropped (and a new one takes its place): Asterisk itself resends after
// a second.
const dropAfter = 2 * time.Second

// lookupsInFlight keeps n clear DPDISCOVERs (from eid, for random numbers
// of priv) outstanding at to for d: each answer is acknowledged and
// replaced by a new query at once, from one socket. An answer must carry
// want answers; one with another count fails the measurement.
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
		mu      sync.Mutex
		sent    = map[uint16]time.Time{} // outstanding queries by transaction id
		next    uint16
		rnd     = mrand.New(mrand.NewSource(int64(n)))
		stop    bool
		badErr  error
		started time.Time
		ended   time.Time
	)
	// send starts one query; called with mu held.
	send := func() error {
		for {
			next = next%32767 + 1
			if _, busy := sent[next]; !busy {
				break
			}
		}
		sent[next] = time.Now()
		_, err := conn.WriteToUDPAddrPort(query(next, eid, fmt.Sprint(100000+rnd.Intn(numbers))), to)
		return err
	}
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		buf := make([]byte, 65536)
		for {
			k, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			f, err := dundi.DecodeFrame(buf[:k])
			if err != nil || f.Cmd != dundi.CmdDPResponse {
				continue // Asterisk's ACK before its answer
			}
			ack := dundi.Header{STrans: f.DTrans, DTrans: f.STrans, ISeqno: f.OSeqno + 1, OSeqno: 1, Cmd: dundi.CmdACK, Final: true}
			out, _ := (&dundi.Frame{Header: ack}).Encode(nil)
			conn.WriteToUDPAddrPort(out, from)
			m, perr := dundi.ParseMessage(f)
			now := time.Now()
			mu.Lock()
			t0, ok := sent[f.Dst()]
			if ok {
				delete(sent, f.Dst())
				switch {
				case perr != nil:
					badErr = fmt.Errorf("answer to query %d: %w", f.Dst(), perr)
				case m.Cause > 0:
					res.refused++
				case len(m.Answers) != want:
					badErr = fmt.Errorf("answer to query %d: %d answers, want %d", f.Dst(), len(m.Answers), want)
				case ended.IsZero() || now.Before(ended):
					res.answered++
					res.lat = append(res.lat, now.Sub(t0))
				}
				if !stop {
					if err := send(); err != nil && badErr == nil {
						badErr = err
					}
				}
			}
			mu.Unlock()
		}
	}()
	mu.Lock()
	started = time.Now()
	for range n {
		if err := send(); err != nil {
			mu.Unlock()
			return res, err
		}
	}
	mu.Unlock()
	// Replace what is not answered within dropAfter, until d is over;
	// then give the last queries dropAfter to come back.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case now := <-tick.C:
			mu.Lock()
			if stop && (len(sent) == 0 || now.Sub(ended) > dropAfter) {
				res.drops += len(sent)
				err := badErr
				mu.Unlock()
				conn.Close()
				<-recvDone
				res.took = ended.Sub(started)
				return res, err
			}
			for id, t0 := range sent {
				if now.Sub(t0) > dropAfter {
					delete(sent, id)
					res.drops++
					if !stop {
						send()
					}
				}
			}
			if !stop && now.Sub(started) >= d {
				stop, ended = true, now
			}
			mu.Unlock()
		}
	}
}
