package dundi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

func answerStrings(as []Answer) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s %d %s %s", a.Cluster, a.Weight, a.Flags, a.Dest))
	}
	return out
}

func TestStoreDirectoryFlags(t *testing.T) {
	st := newStore(t, []cluster{{name: "a", vip: "10.0.0.1"}, {name: "b", vip: "10.0.0.2"}}, []ext{
		{cluster: "a", number: "5020", mailbox: "5020", roaming: true},
		{cluster: "b", number: "50201", roaming: true},
		{cluster: "b", number: "5030", roaming: false},
	})
	maps, _ := ParseMappings([]MappingConfig{
		{Context: "priv", Tech: "SIP", Destination: "${NUMBER}@${IPADDR};cluster=${CLUSTER};eid=${EID}"},
		{Context: "strict", Tech: "PJSIP", Destination: "${NUMBER}@${IPADDR}", Weight: 7, Options: []string{"nopartial", "commercial"}},
	})
	d, err := NewStoreDirectory(st, nil, StoreDirectoryConfig{Mappings: maps, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	eidA := ClusterEID("a").String()
	cases := []struct {
		number, ctx string
		want        []string
	}{
		{"5020", "priv", []string{"a 0 EXISTS|CANMATCH 5020@10.0.0.1;cluster=a;eid=" + eidA, "b 0 MATCHMORE|CANMATCH "}},
		{"502", "priv", []string{"a 0 MATCHMORE|CANMATCH ", "b 0 MATCHMORE|CANMATCH "}},
		{"50201", "priv", []string{"b 0 EXISTS|CANMATCH 50201@10.0.0.2;cluster=b;eid=" + ClusterEID("b").String()}},
		{"5030", "priv", nil}, // not roaming
		{"5020", "strict", []string{"a 7 EXISTS|COMMERCIAL 5020@10.0.0.1"}},
		{"502", "strict", nil},
		{"5020", "PRIV", []string{"a 0 EXISTS|CANMATCH 5020@10.0.0.1;cluster=a;eid=" + eidA, "b 0 MATCHMORE|CANMATCH "}},
	}
	for _, c := range cases {
		got, err := d.Lookup(context.Background(), c.number, c.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s := answerStrings(got); !slices.Equal(s, c.want) {
			t.Errorf("%s@%s:\n%q\nwant\n%q", c.number, c.ctx, s, c.want)
		}
	}
	if _, err := d.Lookup(context.Background(), "5020", "e164"); !errors.Is(err, ErrUnknownContext) {
		t.Errorf("unmapped context: %v", err)
	}
	for number, want := range map[string]string{"5999": "59", "6000": "6", "5031": "503", "5020": ""} {
		if got := d.DontAsk(number, "priv"); got != want {
			t.Errorf("DontAsk(%s) = %q, want %q", number, got, want)
		}
	}
}

// runDirectory builds a directory over st with an IAX2 mapping of the
// context priv, and runs it until the test ends.
func runDirectory(t *testing.T, st Store) *StoreDirectory {
	t.Helper()
	maps, _ := ParseMappings([]MappingConfig{{Context: "priv", Tech: "IAX2", Destination: "x@${IPADDR}/${NUMBER}"}})
	d, err := NewStoreDirectory(st, nil, StoreDirectoryConfig{Mappings: maps, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// The index follows the store: a new roaming number, a move, a cluster
// that gets a VIP, all show at the next lookup after the rebuild.
func TestStoreDirectoryFollowsChanges(t *testing.T) {
	st := newStore(t, []cluster{{name: "a", vip: "10.0.0.1"}, {name: "b"}}, []ext{
		{cluster: "a", number: "6109", mailbox: "6109", roaming: true},
	})
	d := runDirectory(t, st)
	write := func(muts ...store.Mutation) {
		t.Helper()
		gen := d.Generation()
		if _, err := st.Write(context.Background(), "test", muts); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the index rebuild", func() bool { return d.Generation() > gen })
	}
	look := func(n string) string {
		as, err := d.Lookup(context.Background(), n, "priv")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(answerStrings(as), "; ")
	}
	if got := look("6110"); got != "" {
		t.Fatalf("6110 before: %q", got)
	}
	write(extMutation(ext{cluster: "a", number: "6110", roaming: true}))
	if got := look("6110"); got != "a 0 EXISTS|CANMATCH x@10.0.0.1/6110" {
		t.Errorf("6110 after create: %q", got)
	}
	// 6109 moves to b, which has no VIP yet: not offered until it has one.
	del := extMutation(ext{cluster: "a", number: "6109"})
	del.Value = nil
	write(del, extMutation(ext{cluster: "b", number: "6109", mailbox: "6109", roaming: true}))
	if got := look("6109"); got != "" {
		t.Errorf("6109 on a cluster without a VIP: %q", got)
	}
	write(store.Mutation{Table: "clusters", Key: "b", Value: fieldsOf("name", "b", "site", "b", "voice_vip", "10.0.0.2")})
	if got := look("6109"); got != "b 0 EXISTS|CANMATCH x@10.0.0.2/6109" {
		t.Errorf("6109 after the move: %q", got)
	}
}

// Preference: home (the mailbox), its failover list in order, then the
// rest by name; each place adds WeightStep.
func TestPreferenceOrder(t *testing.T) {
	cl := map[string]clusterInfo{"home": {failover: []string{"z", "x", "gone"}}}
	got := preference([]string{"y", "x", "home", "z", "w"}, "home", cl)
	if want := []string{"home", "z", "x", "w", "y"}; !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
	if got := preference([]string{"b", "a"}, "", cl); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("no home: %v", got)
	}
}

// busyStore changes all the time, and reading it takes at least readTime
// (as a store of a million extensions takes a second or more).
type busyStore struct {
	*store.Store
	readTime time.Duration
}

func (b busyStore) Changed() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// TableWrites grows at every call: every table changes all the time.
func (b busyStore) TableWrites(...string) uint64 { return uint64(time.Now().UnixNano()) }

func (b busyStore) View(fn func(*store.Snapshot) error) error {
	time.Sleep(b.readTime)
	return b.Store.View(fn)
}

// While the store changes without a pause (a catch-up, an import), Run
// rebuilds with pauses of three times a rebuild between them, so the
// rebuilds leave at least three quarters of a CPU to the commits (they
// ran back to back, and took half of the two CPUs of a catch-up).
func TestStoreDirectoryPacesRebuilds(t *testing.T) {
	st := newStore(t, []cluster{{name: "a", vip: "10.0.0.1"}}, []ext{{cluster: "a", number: "6109", roaming: true}})
	const read = 5 * time.Millisecond
	d, err := NewStoreDirectory(busyStore{st, read}, nil, StoreDirectoryConfig{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	gen0, start := d.Generation(), time.Now()
	go func() { done <- d.Run(ctx) }()
	time.Sleep(400 * time.Millisecond) // the span over which rebuilds are counted
	cancel()
	<-done
	took, rebuilds := time.Since(start), d.Generation()-gen0
	// Each cycle is a rebuild (at least read) and a pause of three.
	if most := uint64(took/(4*read)) + 1; rebuilds > most {
		t.Fatalf("%d rebuilds in %v of constant change: want at most %d (a rebuild of at least %v, then a pause of three times that)", rebuilds, took, most, read)
	}
	if rebuilds < 2 {
		t.Fatalf("%d rebuilds in %v of constant change: the index stopped following the store", rebuilds, took)
	}
}

// watchedStore counts Run's waits for the next commit (each loop of Run
// asks for the channel once).
type watchedStore struct {
	*store.Store
	waits *atomic.Int64
}

func (w watchedStore) Changed() <-chan struct{} {
	w.waits.Add(1)
	return w.Store.Changed()
}

// Commits to tables the index is not built from (a trunk here; the
// replication's watermarks in an agent) leave it alone: only the
// extension's commit rebuilds it.
func TestStoreDirectoryRebuildsForItsTablesOnly(t *testing.T) {
	st := newStore(t, []cluster{{name: "a", vip: "10.0.0.1"}}, nil)
	ws := watchedStore{st, new(atomic.Int64)}
	d := runDirectory(t, ws)
	ctx := context.Background()
	// write commits muts and waits until Run has looked at the commit.
	write := func(muts ...store.Mutation) {
		t.Helper()
		waits := ws.waits.Load()
		if _, err := st.Write(ctx, "test", muts); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "Run to look at the commit", func() bool { return ws.waits.Load() > waits })
	}
	answered := func(number string) bool {
		as, err := d.Lookup(ctx, number, "priv")
		if err != nil {
			t.Fatal(err)
		}
		return len(as) > 0
	}
	// A rebuild counts in Generation just after its index is in use.
	g0 := d.Generation()
	write(extMutation(ext{cluster: "a", number: "6101", roaming: true}))
	waitFor(t, "6101 answered", func() bool { return answered("6101") && d.Generation() > g0 })
	g1 := d.Generation()
	for i := range 3 {
		f := pbx.Fields{"name": fmt.Sprintf("t%d", i), "host": "10.9.9.9"}
		write(store.Mutation{Table: pbx.Trunks.Name, Key: fmt.Sprintf("t%d", i), Value: f.Compact().AppendBinary(nil)})
	}
	write(extMutation(ext{cluster: "a", number: "6102", roaming: true}))
	waitFor(t, "6102 answered", func() bool { return answered("6102") && d.Generation() > g1 })
	if g2 := d.Generation(); g2 != g1+1 {
		t.Fatalf("%d rebuilds for three trunks and one extension: want one", g2-g1)
	}
}
