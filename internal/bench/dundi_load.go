package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxtopo/pbxtopo/roaming/dundi"
)

// pacedRate is the offered load of the latency measure: the goal.
const pacedRate = 20_000

type loopbackResult struct {
	rate     float64         // lookups/s with every worker flat out
	lat      []time.Duration // their latencies
	resent   uint64          // packets retransmitted by either side
	pacedLat []time.Duration // answer latencies at pacedRate offered (clear only)
	late     []time.Duration // how late the generator sent each paced query
	lost     int             // paced queries never answered
}

const eidA, eidB = "02:00:00:00:00:0a", "02:00:00:00:00:0b"

// dundiLoopback runs responder A over dir and querier B on loopback;
// workers call B.Lookup for random numbers flat out for d. In clear, it
// then offers pacedRate queries/s to A for d from a bare UDP generator
// (two goroutines, so the responder's latency is not the cost of
// hundreds of querying goroutines sharing its cores).
func dundiLoopback(ctx context.Context, dir dundi.Directory, kf keyFiles, encrypted bool, workers int, d time.Duration, numbers int) (loopbackResult, error) {
	var res loopbackResult
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pb := dundi.PeerConfig{EID: eidB, Host: "127.0.0.1:9", Model: "inbound", Permit: []string{"priv"}}
	acfg := dundi.Config{Addr: "127.0.0.1:0", EID: eidA}
	bcfg := dundi.Config{Addr: "127.0.0.1:0", EID: eidB}
	if encrypted {
		pb.PublicKey, acfg.PrivateKey, bcfg.PrivateKey = kf.bPub, kf.aKey, kf.bKey
	} else {
		pb.Unencrypted = true
	}
	acfg.Peers = []dundi.PeerConfig{pb}
	a, err := dundi.New(acfg, dundi.Deps{Directory: dir, Logger: quiet})
	if err != nil {
		return res, err
	}
	pa := dundi.PeerConfig{EID: eidA, Host: a.Addr().String(), Model: "outbound", Include: []string{"priv"}}
	if encrypted {
		pa.PublicKey = kf.aPub
	} else {
		pa.Unencrypted = true
	}
	bcfg.Peers = []dundi.PeerConfig{pa}
	b, err := dundi.New(bcfg, dundi.Deps{Logger: quiet})
	if err != nil {
		a.Close()
		return res, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- a.Run(rctx) }()
	go func() { done <- b.Run(rctx) }()
	defer func() { cancel(); <-done; <-done }()
	rnds := make([]*mrand.Rand, workers)
	for w := range rnds {
		rnds[w] = mrand.New(mrand.NewSource(int64(w)))
	}
	res.rate, res.lat, err = rate(ctx, workers, d, func(w, i int) error {
		number := fmt.Sprint(100000 + rnds[w].Intn(numbers))
		r, err := b.Lookup(ctx, number, "priv", dundi.LookupOptions{})
		if err != nil {
			return err
		}
		if err := r.Err(); err != nil {
			return err
		}
		if len(r.Results) != 2 {
			return fmt.Errorf("lookup %s: %d answers, want 2", number, len(r.Results))
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	b.Close()
	if !encrypted {
		res.pacedLat, res.late, res.lost, err = pacedQueries(ctx, a.Addr(), pacedRate, d, numbers)
	}
	res.resent = a.Stats().Retransmits + b.Stats().Retransmits
	return res, err
}

// pacedQueries sends clear DPDISCOVERs as B at perSec for d from one
// socket, acknowledges each answer, and returns each answer's latency
// from the moment its query was sent (the generator never waits for an
// answer, so a stall of the responder counts against every query it
// delays), how late the generator itself sent each one, and how many
// were never answered.
func pacedQueries(ctx context.Context, to netip.AddrPort, perSec int, d time.Duration, numbers int) (lat, late []time.Duration, lost int, err error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, 0, err
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	eid, _ := dundi.ParseEID(eidB)
	interval := time.Second / time.Duration(perSec)
	n := int(d / interval)
	var sent [32768]atomic.Int64 // by transaction id: when its query was sent
	var mu sync.Mutex
	answered := 0
	var badErr error
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
				continue
			}
			when := sent[f.Dst()].Swap(0)
			if when == 0 {
				continue // a retransmission of an answer already counted
			}
			m, err := dundi.ParseMessage(f)
			ack := dundi.Header{STrans: f.DTrans, DTrans: f.STrans, ISeqno: f.OSeqno + 1, OSeqno: 1, Cmd: dundi.CmdACK, Final: true}
			out, _ := (&dundi.Frame{Header: ack}).Encode(nil)
			conn.WriteToUDPAddrPort(out, from)
			mu.Lock()
			lat = append(lat, time.Since(time.Unix(0, when)))
			answered++
			if (err != nil || len(m.Answers) != 2) && badErr == nil {
				badErr = fmt.Errorf("paced query %d: a wrong answer (%v)", f.Dst(), err)
			}
			mu.Unlock()
		}
	}()
	rnd := mrand.New(mrand.NewSource(7))
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		when := start.Add(time.Duration(i) * interval)
		if wait := time.Until(when); wait > time.Millisecond {
			time.Sleep(wait)
		}
		id := uint16(i%32766) + 1
		q := query(id, eid, fmt.Sprint(100000+rnd.Intn(numbers)))
		now := time.Now()
		late = append(late, now.Sub(when))
		sent[id].Store(now.UnixNano())
		if _, err := conn.WriteToUDPAddrPort(q, to); err != nil {
			return nil, nil, 0, err
		}
	}
	// Wait for the stragglers: what is not answered within a second is lost.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		all := answered >= n
		mu.Unlock()
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn.Close()
	<-recvDone
	return lat, late, n - answered, badErr
}

// query encodes a clear DPDISCOVER for number@priv from eid.
func query(id uint16, eid dundi.EID, number string) []byte {
	short := func(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
	f := dundi.Frame{Header: dundi.Header{STrans: id, Cmd: dundi.CmdDPDiscover}, IEs: []dundi.IE{
		{Type: dundi.IEVersion, Data: short(1)},
		{Type: dundi.IEEIDDirect, Data: eid[:]},
		{Type: dundi.IECalledNumber, Data: []byte(number)},
		{Type: dundi.IECalledContext, Data: []byte("priv")},
		{Type: dundi.IETTL, Data: short(32)},
	}}
	b, _ := f.Encode(nil)
	return b
}

// udpEcho measures request/response round trips of 64-byte datagrams on
// loopback: a server echoing on one socket, each worker on its own.
func udpEcho(ctx context.Context, workers int, d time.Duration) (float64, []time.Duration, error) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, nil, err
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	conns := make([]*net.UDPConn, workers)
	for w := range conns {
		c, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
		if err != nil {
			return 0, nil, err
		}
		defer c.Close()
		conns[w] = c
	}
	msg := make([]byte, 64)
	return rate(ctx, workers, d, func(w, i int) error {
		c := conns[w]
		buf := make([]byte, 2048)
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := c.Read(buf)
		return err
	})
}
