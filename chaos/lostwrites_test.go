package chaos

import (
	"fmt"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/replicator"
)

// These tests fail on the code before issue 15's fix: run them with
//
//	go test -race -run 'TestLive(ConcurrentPatchProbe|LeaderThenFollowerProbe|RestartDoesNotGoBack|CampaignFindsLostWrites|FixedSeeds)' ./chaos/
//
// Each failure names the write that was undone, its field, what the nodes
// hold instead and which writes of that field there were.

// The first probe: several clients set different fields of one
// extension at one node at the same moment; every acknowledged field must
// survive. Fails on the code before the fix (Service.Put merged in one
// snapshot and wrote the whole record later).
func TestLiveConcurrentPatchProbe(t *testing.T) {
	runLive(t, LiveConfig{Seed: 11, Clusters: 2, Ops: []string{"probe-concurrent"}, Faults: []string{"none"}, Duration: 2 * time.Second})
}

// The second probe: a field set on the Raft leader, then another
// field of the same record set on a follower. Fails on the code before
// the fix (the follower merged into its older copy and wrote it back).
func TestLiveLeaderThenFollowerProbe(t *testing.T) {
	runLive(t, LiveConfig{Seed: 12, Clusters: 2, Ops: []string{"probe-leader-follower"}, Faults: []string{"none"}, Duration: 2 * time.Second})
}

// Restarts over a Raft snapshot older than the store, during a write load
// of writes that are safe on the old code (If-Match, create): every
// acknowledged write stays and no polled version goes back. Fails on the
// code before the fix (Raft restored its snapshot over the newer store on
// every start).
func TestLiveRestartDoesNotGoBack(t *testing.T) {
	runLive(t, LiveConfig{Seed: 13, Ops: []string{"patch-if-match", "put-if-match", "create", "delete-if-match"},
		Faults: []string{"restart"}, Duration: 4 * time.Second})
}

// TestLiveCampaignFindsLostWrites is one full live campaign: every
// operation kind and every fault. It fails on the code before the fix
// (lost fields, reverted edits, reads that go back after a restart).
func TestLiveCampaignFindsLostWrites(t *testing.T) {
	runLive(t, LiveConfig{Seed: 1, Duration: 3 * time.Second})
}

// TestLiveFixedSeeds runs twelve fixed live campaigns: every mode, three
// seeds each, every operation and every fault, two or three clusters of
// three Raft nodes.
func TestLiveFixedSeeds(t *testing.T) {
	seeds := []int64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, mode := range replicator.Modes {
		for _, seed := range seeds {
			clusters := 2 + int(seed)%2
			t.Run(fmt.Sprintf("%s/seed=%d/clusters=%d", mode, seed, clusters), func(t *testing.T) {
				t.Parallel()
				runLive(t, LiveConfig{Seed: seed, Clusters: clusters, Mode: mode, Duration: 2500 * time.Millisecond})
			})
		}
	}
}
