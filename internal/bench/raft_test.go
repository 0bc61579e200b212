package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

// With a follower gone too, no survivor can accept a write after the
// leader's loss: the failover measurement fails instead of reading 0 s.
func TestRaftFailoverFailsWithoutQuorum(t *testing.T) {
	nodes, err := raftCluster(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, n := range nodes {
			n.close()
		}
	}()
	leader := waitLeader(nodes, 20*time.Second)
	if leader == nil {
		t.Fatal("no leader")
	}
	for _, n := range nodes {
		if n != leader {
			n.close()
			break
		}
	}
	took, err := raftFailover(context.Background(), nodes, leader, 3*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no survivor accepted a write") {
		t.Fatalf("failover = %v, %v: want a failure", took, err)
	}
	t.Log(err)
}
