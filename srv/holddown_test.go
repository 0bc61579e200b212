package srv

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

func view(up ...string) func(down ...string) map[string]bool {
	return func(down ...string) map[string]bool {
		v := map[string]bool{}
		for _, c := range up {
			v[c] = true
		}
		for _, c := range down {
			v[c] = false
		}
		return v
	}
}

// TestHoldDownRule walks the rule through time by hand.
func TestHoldDownRule(t *testing.T) {
	all := view("a", "b", "c", "d", "e")
	t0 := time.Unix(1_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

	running := func() *holdDown { // past its start
		h := newHoldDown(time.Minute, 10*time.Second)
		h.next(all(), all(), t0.Add(-time.Hour))
		return h
	}
	// Three of five lost at once: held, with the view before the losses.
	h := running()
	pub := h.next(all(), all("c", "d", "e"), at(0))
	if !reflect.DeepEqual(pub, all()) || !h.holding() || !reflect.DeepEqual(h.status().Lost, []string{"c", "d", "e"}) {
		t.Fatalf("3 of 5 at once: published %v, hold %+v", pub, h.status())
	}
	// Still held while a cluster of the good view is lost, even one;
	// released when the view has recovered, with no change.
	if pub = h.next(pub, all("c", "d", "e"), at(30)); !reflect.DeepEqual(pub, all()) {
		t.Fatalf("held view changed: %v", pub)
	}
	if pub = h.next(pub, all("e"), at(31)); !reflect.DeepEqual(pub, all()) || !h.holding() {
		t.Fatalf("partly recovered: %v, holding %v", pub, h.holding())
	}
	if pub = h.next(pub, all(), at(32)); !reflect.DeepEqual(pub, all()) || h.holding() {
		t.Fatalf("recovered: %v, holding %v", pub, h.holding())
	}

	// Lost one by one inside the window: the third trips the rule and
	// brings back the view from before the first.
	h = running()
	pub = h.next(all(), all("c"), at(0))
	pub = h.next(pub, all("c", "d"), at(2))
	if !reflect.DeepEqual(pub, all("c", "d")) || h.holding() {
		t.Fatalf("2 of 5: %v", pub)
	}
	pub = h.next(pub, all("c", "d", "e"), at(4))
	if !reflect.DeepEqual(pub, all()) || !h.holding() {
		t.Fatalf("third loss in the window: %v", pub)
	}
	// The hold-down passes: the candidate is published.
	if pub = h.next(pub, all("c", "d", "e"), at(64)); !reflect.DeepEqual(pub, all("c", "d", "e")) || h.holding() {
		t.Fatalf("after the hold-down: %v, holding %v", pub, h.holding())
	}

	// Losses further apart than the window are each believed.
	h = running()
	pub = h.next(all(), all("c"), at(0))
	pub = h.next(pub, all("c", "d"), at(11))
	pub = h.next(pub, all("c", "d", "e"), at(22))
	if !reflect.DeepEqual(pub, all("c", "d", "e")) || h.holding() {
		t.Fatalf("losses 11 s apart: %v, holding %v", pub, h.holding())
	}

	// Half is not more than half: two of four are published.
	four := view("a", "b", "c", "d")
	h = newHoldDown(time.Minute, 10*time.Second)
	h.next(four(), four(), t0.Add(-time.Hour))
	if pub = h.next(four(), four("c", "d"), at(0)); !reflect.DeepEqual(pub, four("c", "d")) {
		t.Fatalf("2 of 4: %v", pub)
	}
	// A start holds the saved view until the own view agrees with it...
	h = newHoldDown(time.Minute, 10*time.Second)
	pub = h.next(all("b"), all("b", "c", "d", "e"), at(0))
	if !reflect.DeepEqual(pub, all("b")) || !h.status().Startup || h.status().Until != at(10) {
		t.Fatalf("start: %v %+v", pub, h.status())
	}
	if pub = h.next(pub, all("b"), at(0.01)); !reflect.DeepEqual(pub, all("b")) || h.holding() {
		t.Fatalf("membership caught up: %v %+v", pub, h.status())
	}
	// ... or the window has passed: a cluster that died meanwhile is
	// published then.
	h = newHoldDown(time.Minute, 10*time.Second)
	pub = h.next(all(), all("c"), at(0))
	if pub = h.next(pub, all("c"), at(9)); !reflect.DeepEqual(pub, all()) {
		t.Fatalf("start, 9 s: %v", pub)
	}
	if pub = h.next(pub, all("c"), at(10)); !reflect.DeepEqual(pub, all("c")) || h.holding() {
		t.Fatalf("start, 10 s: %v %+v", pub, h.status())
	}
	// A start that still sees more than half lost after the window holds
	// on, as a cut-off node does, until the hold-down.
	h = newHoldDown(time.Minute, 10*time.Second)
	pub = h.next(all(), all("b", "c", "d", "e"), at(0))
	if pub = h.next(pub, all("b", "c", "d", "e"), at(11)); !reflect.DeepEqual(pub, all()) || h.status().Until != at(60) {
		t.Fatalf("start, cut off: %v %+v", pub, h.status())
	}
	if pub = h.next(pub, all("b", "c", "d", "e"), at(60)); !reflect.DeepEqual(pub, all("b", "c", "d", "e")) {
		t.Fatalf("start, cut off, after the hold-down: %v", pub)
	}

	// A first start has no saved view: nothing was lost, nothing held.
	h = newHoldDown(time.Minute, 10*time.Second)
	if pub = h.next(map[string]bool{}, all("b", "c", "d", "e"), at(0)); !reflect.DeepEqual(pub, all("b", "c", "d", "e")) || h.holding() {
		t.Fatalf("first start: %v %+v", pub, h.status())
	}
	// Clusters down from the start (never published up) are not lost
	// later: one more loss is one loss.
	pub = h.next(pub, all("b", "c", "d", "e"), at(20))
	if pub = h.next(pub, all("a", "b", "c", "d", "e"), at(21)); !reflect.DeepEqual(pub, all("a", "b", "c", "d", "e")) || h.holding() {
		t.Fatalf("a fifth down: %v %+v", pub, h.status())
	}

	// Off: everything is believed.
	h = newHoldDown(0, 10*time.Second)
	if pub = h.next(all(), all("b", "c", "d", "e"), at(0)); !reflect.DeepEqual(pub, all("b", "c", "d", "e")) {
		t.Fatalf("rule off: %v", pub)
	}
}

// groupHealth is a membership view whose clusters can change together.
type groupHealth struct {
	mu      sync.Mutex
	down    map[string]bool
	changed chan struct{}
}

func newGroupHealth() *groupHealth {
	return &groupHealth{down: map[string]bool{}, changed: make(chan struct{})}
}

func (g *groupHealth) Up(c string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.down[c]
}

func (g *groupHealth) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

// set marks the given clusters down and every other up, in one change.
func (g *groupHealth) set(down ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = map[string]bool{}
	for _, c := range down {
		g.down[c] = true
	}
	close(g.changed)
	g.changed = make(chan struct{})
}

// TestHeldViewSendsNoNotify: a node that loses three of the five clusters
// at once keeps serving (and notifying) its last good zone, says so, and
// publishes the shrunken zone only when the hold-down has passed.
func TestHeldViewSendsNoNotify(t *testing.T) {
	st := sampleStore(t)
	members := newGroupHealth()
	c := runChecker(t, CheckerConfig{HoldDown: 700 * time.Millisecond, HoldDownWindow: 10 * time.Second}, CheckerDeps{Source: st, Members: members})
	sec := startSecondary(t)
	s := startServer(t, st, c, func(cfg *Config) { cfg.Notify = []string{sec.addr()} })
	eventually(t, 5*time.Second, "NOTIFY at start", func() bool { return len(sec.got()) == 1 })
	_, serial := s.Zone()
	start := time.Now()
	members.set("sfo", "lon", "ams")
	eventually(t, 2*time.Second, "held", func() bool { return c.Hold().Active() })
	if h := c.Hold(); !reflect.DeepEqual(h.Lost, []string{"ams", "lon", "sfo"}) || h.Known != 5 {
		t.Fatalf("hold: %+v", h)
	}
	for _, name := range []string{"sfo", "lon", "ams"} {
		if !c.Up(name) {
			t.Fatalf("%s down while held", name)
		}
	}
	if _, now := s.Zone(); now != serial || len(sec.got()) != 1 {
		t.Fatalf("while held: serial %d → %d, %d NOTIFY", serial, now, len(sec.got()))
	}
	held := 0
	for _, h := range c.Status() {
		if h.Held {
			held++
		}
	}
	if held != 3 {
		t.Fatalf("status shows %d clusters held: %+v", held, c.Status())
	}
	eventually(t, 3*time.Second, "the shrunken zone once the hold-down passed", func() bool {
		z, _ := s.Zone()
		return len(z.Down) == 3
	})
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("the shrunken zone came %v after the loss, before the hold-down", d)
	}
	eventually(t, 5*time.Second, "NOTIFY of the shrunken zone", func() bool { return len(sec.got()) == 2 })
	if c.Hold().Active() {
		t.Fatal("still held after the hold-down")
	}
	// A view that recovers before the hold-down passes ends the hold with
	// no change at all.
	members.set()
	eventually(t, 2*time.Second, "all up", func() bool { z, _ := s.Zone(); return len(z.Down) == 0 })
	eventually(t, 5*time.Second, "NOTIFY of the whole zone", func() bool { return len(sec.got()) == 3 })
	rebuilds := s.Stats().Rebuilds
	members.set("tpa2", "lon", "ams")
	eventually(t, 2*time.Second, "held again", func() bool { return c.Hold().Active() })
	members.set("ams") // recovering, one by one
	members.set()
	eventually(t, 2*time.Second, "recovered", func() bool { return !c.Hold().Active() })
	if s.Stats().Rebuilds != rebuilds || len(sec.got()) != 3 {
		t.Fatalf("rebuilds %d → %d, %d NOTIFY: a hold that ends with the view recovered changes nothing", rebuilds, s.Stats().Rebuilds, len(sec.got()))
	}
}

// TestRestartServesTheSavedView: a node that starts and sees only itself
// (its membership has not caught up) answers from the view it published
// before it stopped, and keeps its serial; when its membership catches up
// nothing changes.
func TestRestartServesTheSavedView(t *testing.T) {
	st := sampleStore(t)
	members := newGroupHealth()
	cfg := CheckerConfig{HoldDown: time.Minute, HoldDownWindow: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	c1, err := NewChecker(cfg, CheckerDeps{Source: st, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c1.Run(ctx) }()
	eventually(t, 2*time.Second, "the first view published", func() bool {
		c1.mu.Lock()
		defer c1.mu.Unlock()
		return c1.started
	})
	members.set("tpa2")
	eventually(t, 2*time.Second, "tpa2 down", func() bool { return !c1.Up("tpa2") && c1.Up("sfo") })
	eventually(t, 2*time.Second, "the view saved", func() bool { return reflect.DeepEqual(loadView(st), view("tpa1", "sfo", "lon", "ams")("tpa2")) })
	s1 := startServer(t, st, c1, nil)
	_, serial := s1.Zone()
	s1.Close()
	cancel()
	<-done

	// The restart: the new membership knows only tpa1 at first.
	members.set("tpa2", "sfo", "lon", "ams")
	c2, err := NewChecker(cfg, CheckerDeps{Source: st, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, st, c2, nil) // the server may ask before the checker runs
	if _, got := s2.Zone(); got != serial {
		t.Fatalf("serial %d after the restart, want %d", got, serial)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go c2.Run(ctx2)
	eventually(t, 2*time.Second, "held at start", func() bool { return c2.Hold().Active() })
	if z, got := s2.Zone(); got != serial || !reflect.DeepEqual(z.Down, []string{"tpa2"}) {
		t.Fatalf("while held: serial %d down %v", got, z.Down)
	}
	members.set("tpa2")
	eventually(t, 2*time.Second, "the hold ends", func() bool { return !c2.Hold().Active() })
	if _, got := s2.Zone(); got != serial || s2.Stats().Rebuilds != 1 {
		t.Fatalf("after the membership caught up: serial %d (want %d), %d rebuilds", got, serial, s2.Stats().Rebuilds)
	}
}
