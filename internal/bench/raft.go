package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore"
	"github.com/pbxtopo/pbxtopo/replicator/raftstore/raftlog"
	"github.com/pbxtopo/pbxtopo/store"
)

// Raft measures durable writes through a 3-voter cluster on loopback
// (mutual-TLS Raft transport) with 32 clients, next to the single-node
// store in the same run, and the failover from the leader's loss to the
// first accepted write.
func Raft(ctx context.Context, env Env) ([]Result, error) {
	d := 4 * time.Second
	if env.Quick {
		d = 500 * time.Millisecond
	}
	env.Param("clients", 32)
	env.Param("duration", d)
	env.Param("voters", 3)
	env.Param("failover_limit", failoverLimit)
	single, err := store.Open(storeConfig(filepath.Join(env.Dir, "single.db")))
	if err != nil {
		return nil, err
	}
	write := func(st interface {
		Write(context.Context, string, []store.Mutation) (store.WriteResult, error)
	}) func(w, i int) error {
		return func(w, i int) error {
			_, err := st.Write(ctx, "bench", []store.Mutation{{Table: "extensions", Key: fmt.Sprintf("r0/%d-%d", w, i), Value: benchValue}})
			return err
		}
	}
	single0 := single.Stats()
	singleRate, singleLat, err := rate(ctx, 32, d, write(single))
	single1 := single.Stats()
	single.Close()
	if err != nil {
		return nil, err
	}
	nodes, err := raftCluster(env.Dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, n := range nodes {
			n.close()
		}
	}()
	leader := waitLeader(nodes, 20*time.Second)
	if leader == nil {
		return nil, fmt.Errorf("the 3-node cluster elected no leader")
	}
	leader0, pages0, logs0 := leader.local.Stats(), pagesWritten(nodes), logStats(nodes)
	raftRate, raftLat, err := rate(ctx, 32, d, write(leader.rs))
	if err != nil {
		return nil, err
	}
	leader1, pages1, logs1 := leader.local.Stats(), pagesWritten(nodes), logStats(nodes)
	writes := float64(leader1.LSN - leader0.LSN)
	// Every voter applies every write to its own store, on this one disk.
	pagesPerWrite := func(pages int64, from, to store.Stats) float64 { return float64(pages) / float64(to.LSN-from.LSN) }
	singlePages := pagesPerWrite(single1.PagesWritten-single0.PagesWritten, single0, single1)
	raftPages := pagesPerWrite(pages1-pages0, leader0, leader1)
	out := []Result{
		{Name: "single-node store, 32 clients", Value: singleRate, Unit: "writes/s", Clients: 32,
			Note: fmt.Sprintf("p99 %.2f ms; %s; %.1f store pages per write (%.0f pages/s)", ms(Percentile(singleLat, 99)), commitShape(single0, single1),
				singlePages, singleRate*singlePages)},
		{Name: "3-voter Raft cluster, 32 clients at the leader", Value: raftRate, Unit: "writes/s", Clients: 32,
			Anchor: "single-node store", AnchorValue: singleRate, Goal: "ratio >= 0.5",
			Note: fmt.Sprintf("the leader's store: %s; the 3 voters' stores: %.1f pages per write (%.0f pages/s, on one disk); their Raft logs: %.2f fsyncs and %.0f bytes per write, %.1f writes per append",
				commitShape(leader0, leader1), raftPages, raftRate*raftPages,
				float64(logs1.Fsyncs-logs0.Fsyncs)/writes, float64(logs1.Bytes-logs0.Bytes)/writes,
				3*writes/float64(max(logs1.Appends-logs0.Appends, 1))),
			AnchorSettings: "the same bbolt store without Raft, 32 clients, each write fsynced before its answer"},
		{Name: "3-voter Raft cluster: p99 write latency", Value: ms(Percentile(raftLat, 99)), Unit: "ms"},
	}
	took, err := raftFailover(ctx, nodes, leader, failoverLimit)
	name := "leader loss to the first accepted write (default timeouts)"
	if err != nil {
		return append(out, failed(name, err)), err
	}
	return append(out, Result{Name: name, Value: took.Seconds(), Unit: "s", Goal: "< 2 s"}), nil
}

// failoverLimit is how long the survivors have to accept a write after
// the leader is lost; past it the measurement fails.
const failoverLimit = 30 * time.Second

// raftFailover stops the leader and returns the time until a survivor
// accepts a write, or an error when none does within limit.
func raftFailover(ctx context.Context, nodes []*raftNode, leader *raftNode, limit time.Duration) (time.Duration, error) {
	killed := time.Now()
	leader.close()
	var lastErr error
	for time.Since(killed) < limit {
		l := waitLeader(nodes, 50*time.Millisecond)
		if l == nil || l == leader {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, max(limit-time.Since(killed), time.Millisecond))
		_, err := l.rs.Write(wctx, "bench", []store.Mutation{{Table: "extensions", Key: "failover", Value: benchValue}})
		cancel()
		if err == nil {
			return time.Since(killed), nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return 0, fmt.Errorf("no survivor accepted a write within %v of the leader's loss (last refusal: %v)", limit, lastErr)
	}
	return 0, fmt.Errorf("no survivor accepted a write within %v of the leader's loss: no new leader", limit)
}

type raftNode struct {
	name  string
	local *store.Store
	rs    *raftstore.Store
	stop  context.CancelFunc
	done  bool
}

func (n *raftNode) close() {
	if n.done {
		return
	}
	n.done = true
	n.stop()
	n.rs.Close()
	n.local.Close()
}

// pagesWritten is what the voters' stores have written since they opened.
func pagesWritten(nodes []*raftNode) int64 {
	var n int64
	for _, node := range nodes {
		n += node.local.Stats().PagesWritten
	}
	return n
}

// logStats sums what the voters' Raft logs have written since they opened.
func logStats(nodes []*raftNode) raftlog.Stats {
	var sum raftlog.Stats
	for _, n := range nodes {
		st := n.rs.LogStats()
		sum.Appends += st.Appends
		sum.Fsyncs += st.Fsyncs
		sum.Bytes += st.Bytes
	}
	return sum
}

type benchPeers []raftstore.Peer

func (p benchPeers) Peers() []raftstore.Peer { return p }

func raftCluster(dir string) ([]*raftNode, error) {
	if err := pki.CreateCA(filepath.Join(dir, "raftca"), "bench", time.Hour); err != nil {
		return nil, err
	}
	var peers benchPeers
	var addrs []string
	for i := 0; i < 3; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
		peers = append(peers, raftstore.Peer{Node: fmt.Sprintf("c-%d", i), RaftAddr: addrs[i], Alive: true})
	}
	var nodes []*raftNode
	for i := 0; i < 3; i++ {
		name := peers[i].Node
		files := pki.Files{CA: filepath.Join(dir, "raftca", pki.CAFile)}
		var err error
		if files.Cert, files.Key, err = pki.CreateCert(filepath.Join(dir, "raftca"), filepath.Join(dir, name), pki.CertRequest{Cluster: "c", Node: name, Validity: time.Hour}); err != nil {
			return nil, err
		}
		var tlsCfg *tls.Config
		if tlsCfg, err = pki.TLSConfig(files); err != nil {
			return nil, err
		}
		sc := store.DefaultConfig(filepath.Join(dir, name, "store.db"))
		sc.Replica = "c"
		local, err := store.Open(sc)
		if err != nil {
			return nil, err
		}
		cfg := raftstore.DefaultConfig(name, "c", filepath.Join(dir, name, "raft"))
		cfg.BindAddr, cfg.TLS, cfg.Expect = addrs[i], tlsCfg, 3
		rs, err := raftstore.New(cfg, raftstore.Deps{Store: local, Peers: peers})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		go rs.Run(ctx)
		nodes = append(nodes, &raftNode{name: name, local: local, rs: rs, stop: cancel})
	}
	return nodes, nil
}

func waitLeader(nodes []*raftNode, within time.Duration) *raftNode {
	deadline := time.Now().Add(within)
	for {
		for _, n := range nodes {
			if !n.done && n.rs.IsLeader() {
				return n
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}
