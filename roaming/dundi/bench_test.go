package dundi

import (
	"context"
	"fmt"
	"math/rand"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// benchDirectory is a store of n roaming numbers on 10 clusters.
func benchDirectory(b *testing.B, n int) *StoreDirectory {
	cfg := store.DefaultConfig(filepath.Join(b.TempDir(), "store.db"))
	cfg.Replica = "bench"
	st, err := store.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var muts []store.Mutation
	for c := 0; c < 10; c++ {
		f := pbx.Fields{"name": fmt.Sprintf("c%d", c), "voice_vip": fmt.Sprintf("10.%d.0.1", c)}
		muts = append(muts, store.Mutation{Table: "clusters", Key: fmt.Sprintf("c%d", c), Value: f.AppendBinary(nil)})
	}
	for i := 0; i < n; i++ {
		for _, c := range []int{i % 10, (i + 3) % 10} {
			f := pbx.Fields{"cluster": fmt.Sprintf("c%d", c), "regexten": fmt.Sprint(100000 + i), "roaming": "yes"}
			muts = append(muts, store.Mutation{Table: "extensions", Key: fmt.Sprintf("c%d/%d", c, 100000+i), Value: f.AppendBinary(nil)})
		}
		if len(muts) > 10000 || i == n-1 {
			if _, err := st.Write(context.Background(), "bench", muts); err != nil {
				b.Fatal(err)
			}
			muts = muts[:0]
		}
	}
	maps, _ := ParseMappings([]MappingConfig{{Context: "priv", Tech: "IAX2", Destination: "priv:${SECRET}@${IPADDR}/${NUMBER}"}})
	d, err := NewStoreDirectory(st, nil, StoreDirectoryConfig{Mappings: maps, Logger: quietLog()})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkStoreDirectoryLookup(b *testing.B) {
	d := benchDirectory(b, 100_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if as, _ := d.Lookup(context.Background(), fmt.Sprint(100000+i%100_000), "priv"); len(as) != 2 {
			b.Fatal(len(as))
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	pkt := dundiPackets(b, "testdata/plain/lookup.pcap")[2].payload
	for i := 0; i < b.N; i++ {
		f, _ := DecodeFrame(pkt)
		ParseMessage(f)
	}
}

// BenchmarkLookupLoopback is a full lookup between two peers on loopback.
func BenchmarkLookupLoopback(b *testing.B) {
	for _, enc := range []bool{false, true} {
		b.Run(fmt.Sprint("encrypted=", enc), func(b *testing.B) {
			d := benchDirectory(b, 100_000)
			pb := plainPeerCfg(eidB, netip.MustParseAddrPort("127.0.0.1:9"), "inbound")
			acfg := Config{EID: eidA.String()}
			bcfg := Config{EID: eidB.String()}
			if enc {
				pb = PeerConfig{EID: eidB.String(), Host: "127.0.0.1:9", Model: "inbound", Permit: []string{"priv"}, PublicKey: keyPath("dundiB.pub")}
				acfg.PrivateKey, bcfg.PrivateKey = keyPath("dundiA.key"), keyPath("dundiB.key")
			}
			acfg.Peers = []PeerConfig{pb}
			a := startPeer(b, acfg, Deps{Directory: d})
			pa := plainPeerCfg(eidA, a.Addr(), "outbound")
			if enc {
				pa = PeerConfig{EID: eidA.String(), Host: a.Addr().String(), Model: "outbound", Include: []string{"priv"}, PublicKey: keyPath("dundiA.pub")}
			}
			bcfg.Peers = []PeerConfig{pa}
			q := startPeer(b, bcfg, Deps{})
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewSource(rand.Int63()))
				for pb.Next() {
					res, err := q.Lookup(context.Background(), fmt.Sprint(100000+r.Intn(100_000)), "priv", LookupOptions{})
					if err != nil || len(res.Results) != 2 {
						b.Fatal(err, res)
					}
				}
			})
		})
	}
}
