package store

import (
	"fmt"
	"testing"
)

// BenchmarkAppendOpsBatch encodes the Raft entry of one 4 MB batch of a
// catch-up: 16,000 changes of extension-sized records.
func BenchmarkAppendOpsBatch(b *testing.B) {
	changes := make([]*Change, 16_000)
	for i := range changes {
		changes[i] = &Change{Dot: Dot{"c00.0000000000000001", uint64(i + 1)}, TxSeq: uint64(i/1000*1000 + 1), TxSize: 1000,
			Table: "extensions", Key: fmt.Sprintf("c0%d/%d", i%10, 100000+i), Value: make([]byte, 250), HLC: HLC(i), Author: "import"}
	}
	ops := []Op{{Kind: OpApply, Changes: changes}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		AppendOps(nil, ops)
	}
}
