package replicator_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/pki"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// statusNet is an enterprise of clusters, each one store and one
// replicator serving over real mutual-TLS HTTP on a free port.
type statusNet struct {
	names  []string
	addrs  []string
	stores []*store.Store
	reps   []*replicator.Replicator
}

type fixedMembers struct{ views []replicator.ClusterView }

func (m fixedMembers) Clusters() []replicator.ClusterView { return m.views }
func (m fixedMembers) Changed() <-chan struct{}           { return nil }

func newStatusNet(t *testing.T, mode replicator.Mode, interval time.Duration, names ...string) *statusNet {
	t.Helper()
	return newStatusNetViews(t, mode, interval, nil, names...)
}

// newStatusNetViews lets view change what one cluster's membership says.
func newStatusNetViews(t *testing.T, mode replicator.Mode, interval time.Duration, view func(self string, v []replicator.ClusterView) []replicator.ClusterView, names ...string) *statusNet {
	t.Helper()
	return newNet(t, mode, interval, view, nil, names...)
}

// newNet is newStatusNetViews where tune may change each replicator's
// configuration.
func newNet(t *testing.T, mode replicator.Mode, interval time.Duration, view func(self string, v []replicator.ClusterView) []replicator.ClusterView,
	tune func(name string, rc *replicator.Config), names ...string) *statusNet {
	t.Helper()
	dir := t.TempDir()
	if err := pki.CreateCA(filepath.Join(dir, "ca"), "test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	n := &statusNet{names: names}
	var lns []net.Listener
	var views []replicator.ClusterView
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		n.addrs = append(n.addrs, ln.Addr().String())
		views = append(views, replicator.ClusterView{Name: name, Alive: true, Addrs: []string{ln.Addr().String()}})
	}
	for i, name := range names {
		files := cert(t, filepath.Join(dir, "ca"), filepath.Join(dir, name), name, name+"-1", time.Time{})
		tlsCfg, err := pki.TLSConfig(files)
		if err != nil {
			t.Fatal(err)
		}
		sc := store.DefaultConfig(filepath.Join(dir, name, "store.db"))
		sc.Replica = name
		st, err := store.Open(sc)
		if err != nil {
			t.Fatal(err)
		}
		rc := replicator.DefaultConfig(name, "")
		rc.Default = replicator.Topology{Mode: mode, Order: names}
		rc.StatusInterval = interval
		if tune != nil {
			tune(name, &rc)
		}
		tr := replicator.NewHTTPTransport(tlsCfg, 0, nil)
		members := fixedMembers{views}
		if view != nil {
			members.views = view(name, slices.Clone(views))
		}
		rep, err := replicator.New(rc, replicator.Deps{Store: st, Transport: tr, Membership: members})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: rep.Handler(), TLSConfig: tlsCfg}
		go srv.ServeTLS(lns[i], "", "")
		t.Cleanup(func() {
			srv.Close()
			tr.Close()
			if err := st.Check(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			st.Close()
		})
		n.stores, n.reps = append(n.stores, st), append(n.reps, rep)
	}
	return n
}

// round has every cluster pull status once from each of its sources.
func (n *statusNet) round(t *testing.T) {
	t.Helper()
	for _, r := range n.reps {
		for _, src := range r.Sources() {
			if _, err := r.SyncStatus(bg, src); err != nil {
				t.Fatalf("status pull from %s: %v", src.Cluster, err)
			}
		}
	}
}

func (n *statusNet) status(t *testing.T, i int) map[string]string {
	t.Helper()
	out := map[string]string{}
	n.stores[i].View(func(sn *store.Snapshot) error {
		return sn.Status("", func(k string, v []byte) error { out[k] = string(v); return nil })
	})
	return out
}

// converge runs rounds until every cluster holds the same status.
func (n *statusNet) converge(t *testing.T, rounds int) {
	t.Helper()
	for range rounds {
		n.round(t)
		same := true
		for i := range n.stores[1:] {
			same = same && reflect.DeepEqual(n.status(t, i+1), n.status(t, 0))
		}
		if same {
			return
		}
	}
	t.Fatalf("status did not converge in %d rounds: %v / %v / %v", rounds, n.status(t, 0), n.status(t, 1), n.status(t, len(n.stores)-1))
}

func (n *statusNet) stats(i int, peer string) replicator.StatusLinkStats {
	for _, s := range n.reps[i].StatusStats() {
		if s.Peer == peer {
			return s
		}
	}
	return replicator.StatusLinkStats{Peer: peer}
}

func putStatus(t *testing.T, st *store.Store, kv ...string) {
	t.Helper()
	m := map[string][]byte{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			m[kv[i]] = nil
		} else {
			m[kv[i]] = []byte(kv[i+1])
		}
	}
	if err := st.PutStatus(bg, m); err != nil {
		t.Fatal(err)
	}
}

func TestStatusRingWithoutConflictsCoalescedRemovalsShip(t *testing.T) {
	n := newStatusNet(t, replicator.Ring, time.Second, "a", "b", "c")
	putStatus(t, n.stores[0], "ext/a/100/a1", "registered", "health/a/a1", "up")
	putStatus(t, n.stores[1], "ext/b/200/b1", "unregistered")
	putStatus(t, n.stores[2], "health/c/c1", "up")
	n.converge(t, 4)
	if got := n.status(t, 2); len(got) != 4 || got["ext/a/100/a1"] != "registered" {
		t.Fatalf("c holds %v", got)
	}

	// A phone that flaps 100 times between two pulls ships once per hop.
	receivedB, receivedC := n.stats(1, "a").Received, n.stats(2, "b").Received
	servedA := n.stats(0, "b")
	for i := range 100 {
		putStatus(t, n.stores[0], "ext/a/100/a1", fmt.Sprintf("state %d", i))
	}
	n.converge(t, 4)
	if got := n.status(t, 2)["ext/a/100/a1"]; got != "state 99" {
		t.Fatalf("c sees %q", got)
	}
	shipped := n.stats(1, "a").Received - receivedB
	bytesOut := n.stats(0, "b").BytesOut - servedA.BytesOut
	if shipped != 1 || n.stats(2, "b").Received-receivedC != 1 {
		t.Fatalf("100 writes shipped %d entries a→b and %d b→c, want 1 each", shipped, n.stats(2, "b").Received-receivedC)
	}
	// Without coalescing each write would cross the link on its own, in an
	// answer of the same size.
	t.Logf("100 writes of one status entry: 1 entry, %d bytes a→b (shipping every write: about %d bytes)", bytesOut, 100*bytesOut)

	// A removal ships, and nothing comes back.
	putStatus(t, n.stores[0], "ext/a/100/a1", "")
	n.converge(t, 4)
	for i := range n.stores {
		if _, ok := n.status(t, i)["ext/a/100/a1"]; ok {
			t.Fatalf("%s still holds the removed entry", n.names[i])
		}
	}
	// a never gets its own entries back from c (they would be ignored);
	// status is never in conflict and never a record.
	for i, st := range n.stores {
		if s := st.Stats(); s.Conflicts != 0 || s.LSN != 0 {
			t.Fatalf("%s: %d conflicts, %d changes logged", n.names[i], s.Conflicts, s.LSN)
		}
	}
	if got := n.stats(0, "c"); got.Merged != got.Received {
		t.Fatalf("a merged %d of %d entries from c: its own came back", got.Merged, got.Received)
	}
}

// With the replicator running, a phone that flaps as fast as the store
// takes writes reaches the peer as a handful of entries, ending with its
// last state.
func TestStatusLoopCoalescesAFlappingPhone(t *testing.T) {
	n := newStatusNet(t, replicator.Mesh, 100*time.Millisecond, "a", "b")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range n.reps {
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	const writes = 100
	for i := range writes {
		state := "registered"
		if i%2 == 1 {
			state = "unreachable"
		}
		putStatus(t, n.stores[0], "ext/a/5021/a1", fmt.Sprintf("%s %d", state, i))
	}
	want := fmt.Sprintf("unreachable %d", writes-1)
	deadline := time.Now().Add(10 * time.Second)
	for n.status(t, 1)["ext/a/5021/a1"] != want {
		if time.Now().After(deadline) {
			t.Fatalf("b holds %v, want %q; links %+v", n.status(t, 1), want, n.reps[1].StatusStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := n.stats(1, "a")
	if got.Received == 0 || got.Received > writes/4 {
		t.Fatalf("%d writes shipped %d entries", writes, got.Received)
	}
	t.Logf("%d writes → %d entries shipped, %d bytes, %d pulls", writes, got.Received, n.stats(0, "b").BytesOut, got.Pulls)
	if c := n.stores[1].Stats().Conflicts; c != 0 {
		t.Fatalf("%d conflicts", c)
	}
}

// In a mesh each cluster asks each peer for the peer's own entries; when
// one link fails, the entries of the cluster behind it come through the
// peers that reach it.
func TestStatusMeshRelaysAroundAFailedLink(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	cutAC := func(self string, v []replicator.ClusterView) []replicator.ClusterView {
		for i := range v {
			if self == "a" && v[i].Name == "c" {
				v[i].Addrs = []string{dead} // a cannot reach c; b can
			}
		}
		return v
	}
	n := newStatusNetViews(t, replicator.Mesh, time.Second, cutAC, "a", "b", "c")
	putStatus(t, n.stores[2], "health/c/c1", "up")
	putStatus(t, n.stores[1], "health/b/b1", "up")
	for range 3 {
		for _, r := range n.reps {
			r.StatusRound(bg)
		}
	}
	if got := n.status(t, 0); got["health/c/c1"] != "up" || got["health/b/b1"] != "up" {
		t.Fatalf("a holds %v", got)
	}
	if l := n.stats(0, "c"); l.LastError == "" || l.Received != 0 {
		t.Fatalf("a's link to c: %+v", l)
	}
	// Later changes keep coming through the relay, once each.
	before := n.stats(0, "b").Received
	putStatus(t, n.stores[2], "health/c/c1", "down")
	n.reps[1].StatusRound(bg)
	n.reps[0].StatusRound(bg)
	if got := n.status(t, 0)["health/c/c1"]; got != "down" {
		t.Fatalf("a sees c %q", got)
	}
	if d := n.stats(0, "b").Received - before; d != 1 {
		t.Fatalf("the relay shipped %d entries for one change", d)
	}
	// With every link up, nobody relays.
	m := newStatusNet(t, replicator.Mesh, time.Second, "a", "b", "c")
	putStatus(t, m.stores[2], "health/c/c1", "up")
	m.reps[0].StatusRound(bg)
	if r := m.stats(0, "b").Received; r != 0 {
		t.Fatalf("a healthy mesh relayed %d entries", r)
	}
}

// A peer that never answers delays only its own status.
func TestStatusLoopDoesNotWaitForASilentPeer(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts nothing: a TLS handshake hangs
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	hang := func(self string, v []replicator.ClusterView) []replicator.ClusterView {
		for i := range v {
			if self == "a" && v[i].Name == "c" {
				v[i].Addrs = []string{silent.Addr().String()}
			}
		}
		return v
	}
	n := newStatusNetViews(t, replicator.Mesh, 50*time.Millisecond, hang, "a", "b", "c")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.reps[0].Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i := range 5 {
		putStatus(t, n.stores[1], "health/b/b1", fmt.Sprint("beat ", i))
		deadline := time.Now().Add(3 * time.Second)
		for n.status(t, 0)["health/b/b1"] != fmt.Sprint("beat ", i) {
			if time.Now().After(deadline) {
				t.Fatalf("beat %d from b did not reach a while c hangs: %+v", i, n.reps[0].StatusStats())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// A peer answering from another life of its store (a new epoch) or from a
// lagging node (behind the requester's mark) never makes the requester
// skip entries.
func TestServeStatusEpochsAndLaggingNodes(t *testing.T) {
	n := newStatusNet(t, replicator.Mesh, time.Second, "a", "b")
	putStatus(t, n.stores[0], "ext/a/1/a1", "x", "ext/a/2/a1", "y")
	r := n.reps[0]
	first, err := r.ServeStatus(bg, &replicator.StatusRequest{From: "b"})
	if err != nil || len(first.Entries) != 2 || first.Next != first.Head {
		t.Fatalf("first page %+v %v", first, err)
	}
	again, _ := r.ServeStatus(bg, &replicator.StatusRequest{From: "b", Epoch: first.Epoch + 1, After: first.Next})
	if len(again.Entries) != 2 {
		t.Fatalf("another epoch must start from 0: %+v", again)
	}
	lag, _ := r.ServeStatus(bg, &replicator.StatusRequest{From: "b", Epoch: first.Epoch, After: first.Head + 10})
	if len(lag.Entries) != 0 || lag.Next != first.Head+10 {
		t.Fatalf("a lagging node must keep the mark: %+v", lag)
	}
	if _, err := n.stores[0].MergeStatus(bg, []store.StatusEntry{{Key: "ext/b/1/b1", Value: []byte("b's"), Clock: 1}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := r.ServeStatus(bg, &replicator.StatusRequest{From: "b"}); len(p.Entries) != 2 {
		t.Fatalf("b was sent its own entries back: %+v", p.Entries)
	}
	if p, _ := r.ServeStatus(bg, &replicator.StatusRequest{From: "c"}); len(p.Entries) != 3 {
		t.Fatalf("c must get a's and b's entries: %+v", p.Entries)
	}
	only, _ := r.ServeStatus(bg, &replicator.StatusRequest{From: "b", Origins: []string{"zzz"}})
	if len(only.Entries) != 0 {
		t.Fatalf("origin filter: %+v", only)
	}
	// A mark taken with one owner filter is not reused with another (the
	// topology changed mode): b asked a for a's own entries, then for all.
	peerB := n.reps[1]
	if _, err := n.stores[0].MergeStatus(bg, []store.StatusEntry{{Key: "ext/zzz/1/z1", Value: []byte("z"), Clock: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := peerB.SyncStatus(bg, replicator.Source{Cluster: "a", Addrs: []string{n.addrs[0]}, Origins: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.status(t, 1)["ext/zzz/1/z1"]; ok {
		t.Fatal("the owner filter let zzz's entry through")
	}
	if _, err := peerB.SyncStatus(bg, replicator.Source{Cluster: "a", Addrs: []string{n.addrs[0]}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.status(t, 1)["ext/zzz/1/z1"]; !ok {
		t.Fatal("after the filter changed, b still skips what its old mark passed")
	}
	if _, err := r.ServeStatus(bg, &replicator.StatusRequest{From: "a"}); err == nil {
		t.Fatal("a served itself")
	}
}

func TestStatusEndpointChecksTheCertificate(t *testing.T) {
	e := newTLSEnv(t, replicator.MaxMessage)
	if err := e.st.PutStatus(bg, map[string][]byte{"health/tpa1/tpa1-1": []byte("up")}); err != nil {
		t.Fatal(err)
	}
	tr := e.transport(t, cert(t, filepath.Join(e.dir, "ca"), e.dir, "sfo", "sfo-1", time.Time{}))
	resp, err := tr.Status(bg, e.addr(), &replicator.StatusRequest{From: "sfo"})
	if err != nil || len(resp.Entries) != 1 || resp.From != "tpa1" {
		t.Fatalf("status = %+v, %v", resp, err)
	}
	if _, err := tr.Status(bg, e.addr(), &replicator.StatusRequest{From: "lon"}); err == nil || !strings.Contains(err.Error(), "certificate of cluster sfo") {
		t.Fatalf("impersonation = %v", err)
	}
}

func TestStatusMessagesRoundTrip(t *testing.T) {
	q := &replicator.StatusRequest{From: "b", Epoch: 7, After: 9, Origins: []string{"a"}, MaxBytes: 1 << 20}
	gq, err := replicator.DecodeStatusRequest(bytes.NewReader(replicator.EncodeStatusRequest(q)), 1<<16)
	if err != nil || !reflect.DeepEqual(gq, q) {
		t.Fatalf("request: %+v %v", gq, err)
	}
	p := &replicator.StatusResponse{From: "a", Epoch: 7, Head: 12, Next: 11, More: true,
		Entries: []store.StatusEntry{{Key: "ext/a/1/a1", Value: []byte("v"), Clock: 3}, {Key: "ext/a/2/a1", Clock: 4}}}
	gp, err := replicator.DecodeStatusResponse(bytes.NewReader(replicator.EncodeStatusResponse(p)), 1<<20)
	if err != nil || !reflect.DeepEqual(gp, p) {
		t.Fatalf("response: %+v %v", gp, err)
	}
	b := replicator.EncodeStatusResponse(p)
	if _, err := replicator.DecodeStatusResponse(bytes.NewReader(b[:len(b)-3]), 1<<20); err == nil {
		t.Fatal("a truncated response decoded")
	}
	if _, err := replicator.DecodeStatusRequest(bytes.NewReader(b), 1<<20); err == nil {
		t.Fatal("a response decoded as a request")
	}
}

func FuzzDecodeStatusResponse(f *testing.F) {
	f.Add(replicator.EncodeStatusResponse(&replicator.StatusResponse{From: "a", Epoch: 1, Head: 2, Next: 2,
		Entries: []store.StatusEntry{{Key: "ext/a/1/a1", Value: []byte("v"), Clock: 3}, {Key: "ext/a/2/a1", Clock: 4}}}))
	f.Add(replicator.EncodeStatusRequest(&replicator.StatusRequest{From: "b", Origins: []string{"a"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := replicator.DecodeStatusResponse(bytes.NewReader(b), 1<<20); err == nil {
			if _, err := replicator.DecodeStatusResponse(bytes.NewReader(replicator.EncodeStatusResponse(p)), 1<<20); err != nil {
				t.Fatalf("re-encoding %+v: %v", p, err)
			}
		}
		if q, err := replicator.DecodeStatusRequest(bytes.NewReader(b), 1<<16); err == nil {
			if _, err := replicator.DecodeStatusRequest(bytes.NewReader(replicator.EncodeStatusRequest(q)), 1<<16); err != nil {
				t.Fatalf("re-encoding %+v: %v", q, err)
			}
		}
	})
}
