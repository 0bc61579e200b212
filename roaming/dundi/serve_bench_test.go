package dundi

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"
	"testing"
)

// BenchmarkServeLookup is the answering peer's cost per lookup, in
// process: the clear DPDISCOVER of a number of 100,000 (two clusters
// each) and the querier's final ACK, handled as the read loop handles
// them, batch packets of a read at a time, the DPRESPONSEs sent on a real
// socket. Only the receive system call is left out. cpu-ns/op is the
// process's CPU time per lookup, the garbage collector's included: on a
// shared machine the wall clock (ns/op) counts the neighbours too.
func BenchmarkServeLookup(b *testing.B) {
	d := benchDirectory(b, 100_000)
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	from := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	cfg := Config{Addr: "127.0.0.1:0", EID: eidA.String(), MaxLookups: 1024,
		Peers: []PeerConfig{plainPeerCfg(eidB, from, "inbound")}}
	p, err := New(cfg, Deps{Directory: d, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	all := make([][]byte, 32000)
	for i := range all {
		all[i] = benchQuery(uint16(i+1), eidB, fmt.Sprint(100000+i*7919%100_000))
	}
	for _, batch := range []int{1, 16, 64} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) {
			queries := make([]received, batch)
			acks := make([]received, batch)
			var scratch serveScratch
			next := 0
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU(b)
			for done := 0; done < b.N; done += batch {
				for i := range queries {
					queries[i] = received{all[next], from}
					next = (next + 1) % len(all)
				}
				p.serve(queries, &scratch)
				for i := range acks {
					id := binary.BigEndian.Uint16(queries[i].data)
					t := p.inbound[theirKey{from, id}]
					if t == nil {
						b.Fatalf("query %d left no transaction", id)
					}
					h := Header{STrans: id, DTrans: t.strans, ISeqno: 1, OSeqno: 1, Cmd: CmdACK, Final: true}
					acks[i] = received{h.appendTo(acks[i].data[:0]), from}
				}
				p.serve(acks, &scratch)
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			if s := p.Stats(); s.Transactions != 0 || s.Answered == 0 {
				b.Fatalf("%d transactions left open, %d answered", s.Transactions, s.Answered)
			}
		})
	}
}

// processCPU is the CPU time the process has used (every thread: the
// garbage collector's work counts), in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchQuery(id uint16, eid EID, number string) []byte {
	var bl builder
	bl.short(IEVersion, 1)
	bl.eid(IEEIDDirect, eid)
	bl.str(IECalledNumber, number)
	bl.str(IECalledContext, "priv")
	bl.short(IETTL, 32)
	out, _ := (&Frame{Header: Header{STrans: id, Cmd: CmdDPDiscover}, IEs: bl.ies}).Encode(nil)
	return out
}
