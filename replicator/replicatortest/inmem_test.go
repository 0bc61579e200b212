package replicatortest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// everyone is a membership in which every cluster is always alive: the
// links find out about cuts by failing.
type everyone []replicator.ClusterView

func (e everyone) Clusters() []replicator.ClusterView { return e }
func (e everyone) Changed() <-chan struct{}           { return nil }

type replica struct {
	st *store.Store
	tr *InmemTransport
}

// startPair runs two replicas' own Run loops over in-memory transports.
func startPair(t *testing.T) [2]*replica {
	t.Helper()
	names := [2]string{"tpa1", "sfo"}
	members := everyone{{Name: "tpa1", Site: "tpa", Alive: true, Addrs: []string{"repl-tpa1"}}, {Name: "sfo", Site: "sfo", Alive: true, Addrs: []string{"repl-sfo"}}}
	var out [2]*replica
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for i, name := range names {
		sc := store.DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
		sc.Replica = name
		st, err := store.Open(sc)
		if err != nil {
			t.Fatal(err)
		}
		tr := NewInmemTransport("repl-"+name, int64(i))
		rc := replicator.DefaultConfig(name, members[i].Site)
		rc.PullWait, rc.AntiEntropy, rc.RetryMin, rc.RetryMax = 100*time.Millisecond, 100*time.Millisecond, 5*time.Millisecond, 50*time.Millisecond
		rep, err := replicator.New(rc, replicator.Deps{Store: st, Transport: tr, Membership: members})
		if err != nil {
			t.Fatal(err)
		}
		tr.Serve(rep)
		out[i] = &replica{st: st, tr: tr}
		go func() { rep.Run(ctx); done <- struct{}{} }()
	}
	out[0].tr.Connect(out[1].tr.LocalAddr(), out[1].tr)
	out[1].tr.Connect(out[0].tr.LocalAddr(), out[0].tr)
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		out[0].st.Close()
		out[1].st.Close()
	})
	return out
}

func write(t *testing.T, r *replica, key, name string) {
	t.Helper()
	if _, err := r.st.Write(context.Background(), "test", []store.Mutation{{Table: "extensions", Key: key, Value: pbx.Fields{"name": name}.AppendBinary(nil)}}); err != nil {
		t.Fatal(err)
	}
}

func has(r *replica, key, name string) bool {
	f, ok, err := r.st.Get("extensions", key)
	return err == nil && ok && f["name"] == name
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The replicator's own loop carries writes over the transport; a cut
// link carries nothing (every pull fails as unreachable) and the loop
// catches up by itself once the link is back.
func TestInmemTransportCutAndHeal(t *testing.T) {
	p := startPair(t)
	write(t, p[0], "tpa1/6101", "before the cut")
	waitFor(t, "the write crosses", 5*time.Second, func() bool { return has(p[1], "tpa1/6101", "before the cut") })

	p[0].tr.Disconnect(p[1].tr.LocalAddr())
	p[1].tr.Disconnect(p[0].tr.LocalAddr())
	cut := p[1].tr.Stats()
	write(t, p[0], "tpa1/6102", "during the cut")
	waitFor(t, "pulls fail while the link is cut", 5*time.Second, func() bool { return p[1].tr.Stats().Unreachable >= cut.Unreachable+3 })
	if has(p[1], "tpa1/6102", "during the cut") {
		t.Fatal("a write crossed a cut link")
	}

	p[0].tr.Connect(p[1].tr.LocalAddr(), p[1].tr)
	p[1].tr.Connect(p[0].tr.LocalAddr(), p[0].tr)
	waitFor(t, "the loop catches up after the heal", 5*time.Second, func() bool { return has(p[1], "tpa1/6102", "during the cut") })
}

// Lost, delayed and replayed answers change nothing: every write arrives
// once, in the end, and replays are seen to happen.
func TestInmemTransportFaults(t *testing.T) {
	p := startPair(t)
	for _, r := range p {
		r.tr.SetFaults(Faults{Delay: time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.2, Replay: 0.3})
	}
	for i := 0; i < 40; i++ {
		write(t, p[i%2], fmt.Sprintf("tpa1/%d", 6100+i), fmt.Sprintf("v%d", i))
	}
	waitFor(t, "every write arrives everywhere", 20*time.Second, func() bool {
		for i := 0; i < 40; i++ {
			for _, r := range p {
				if !has(r, fmt.Sprintf("tpa1/%d", 6100+i), fmt.Sprintf("v%d", i)) {
					return false
				}
			}
		}
		return true
	})
	for _, r := range p {
		if err := r.st.Check(); err != nil {
			t.Fatal(err)
		}
	}
	s := p[0].tr.Stats()
	s1 := p[1].tr.Stats()
	if s.Replayed+s1.Replayed == 0 || s.Lost+s1.Lost == 0 {
		t.Fatalf("no fault happened: %+v %+v", s, s1)
	}
}

// Requests to an address nobody serves fail as unreachable.
func TestInmemTransportNobodyServes(t *testing.T) {
	a, b := NewInmemTransport("a", 1), NewInmemTransport("b", 2)
	a.Connect("b", b)
	_, err := a.Pull(context.Background(), "b", &replicator.PullRequest{From: "x"})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("pull from a transport that serves nothing: %v", err)
	}
	if _, err := a.Digests(context.Background(), "c"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("digests from an unknown address: %v", err)
	}
}
