package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/internal/demo"
	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/service"
)

// TestKill9UnderLoadWithASnapshot runs a real agent whose Raft takes
// snapshots every 64 entries, under a load of concurrent field updates of
// a few extensions, kills it with SIGKILL, restarts it and checks what
// its clients saw: every acknowledged update is present (or overwritten
// by a later update of the same writer that was in flight at the kill),
// and no poller ever read a version older than one it had read before,
// across the restart too. Raft used to restore its last snapshot over the
// store on every start, so the restarted agent answered from the past.
func TestKill9UnderLoadWithASnapshot(t *testing.T) {
	e := startEnterprise(t, []string{"tpa1"}, "mesh", func(c *demo.Config) {
		c.RaftExtra = "  snapshot_threshold: 64\n  trailing_logs: 16\n"
	})
	n := e.Clusters[0].Nodes[0]
	keys := []string{"tpa1/6101", "tpa1/6102", "tpa1/6105"}
	fields := []string{"fullcontact", "callerid", "accountcode", "fromuser"}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	// One writer per (key, field): its updates are sequential, so the
	// last one acknowledged must be what stays, or a later one it sent.
	type writer struct {
		key, field string
		acked      int // the last update acknowledged (0: none)
		sent       int // the last update sent
	}
	var writers []*writer
	for _, k := range keys {
		for _, f := range fields {
			writers = append(writers, &writer{key: k, field: f})
		}
	}
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.Client(n, "operator")
			for i := 1; ctx.Err() == nil; i++ {
				key, _ := pbx.Extensions.ParseKey(w.key)
				key[w.field] = "u" + strconv.Itoa(i)
				w.sent = i
				if _, err := c.Put(ctx, "extensions", key, service.PutOptions{Merge: true}); err == nil {
					w.acked = i
				} else {
					time.Sleep(20 * time.Millisecond) // the agent is down: try again soon
				}
			}
		}()
	}
	// Pollers: the version of each key they read must never go back.
	var mu sync.Mutex
	var backwards []string
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.Client(n, "read")
			seen := map[string]uint64{}
			for ctx.Err() == nil {
				for _, k := range keys {
					v, err := c.Get(ctx, "extensions", k)
					if err != nil {
						continue
					}
					seq := versionSeq(t, v.Version)
					if seq < seen[k] {
						mu.Lock()
						backwards = append(backwards, fmt.Sprintf("%s: read version %d after %d", k, seq, seen[k]))
						mu.Unlock()
					}
					seen[k] = max(seen[k], seq)
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond) // load: several snapshots
	if err := n.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n.Wait(5 * time.Second)
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.WaitReady(waitCtx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // load after the restart
	stop()
	wg.Wait()
	if len(backwards) > 0 {
		t.Fatalf("versions went back in time:\n%s", strings.Join(backwards, "\n"))
	}
	c := e.Client(n, "read")
	acked := 0
	for _, w := range writers {
		v, err := c.Get(context.Background(), "extensions", w.key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := strconv.Atoi(strings.TrimPrefix(v.Fields[w.field], "u"))
		if w.acked > 0 && (got < w.acked || got > w.sent) {
			t.Errorf("%s %s: update %d acknowledged (last sent %d), the agent holds %q", w.key, w.field, w.acked, w.sent, v.Fields[w.field])
		}
		acked += w.acked
	}
	if acked == 0 {
		t.Fatal("no update was acknowledged")
	}
	t.Logf("%d updates acknowledged by %d writers around a SIGKILL", acked, len(writers))
}

// versionSeq returns the sequence number of a version (STREAM:SEQ).
func versionSeq(t *testing.T, v string) uint64 {
	i := strings.LastIndexByte(v, ':')
	n, err := strconv.ParseUint(v[i+1:], 10, 64)
	if err != nil {
		t.Errorf("version %q: %v", v, err)
	}
	return n
}
