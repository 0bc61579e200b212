package srv

import (
	"sort"
	"time"
)

// The hold-down rule. A node that loses more than half of the clusters
// the store knows within HoldDownWindow is more likely cut off from them
// than right about them: it keeps publishing its last good view, and says
// so (Hold), until its own view has recovered (lost none of the good
// view's clusters) or HoldDown has passed. While it holds, the zone does
// not change, so it sends no NOTIFY for the shrunken zone.
//
// A node that starts holds the same way against the view it published
// before it stopped, until its own view agrees with it (its membership has
// caught up) or HoldDownWindow has passed; then the rule above goes on.
// So a restart serves what it served, and keeps its serial.

// Hold says whether the health view is held, and why.
type Hold struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Lost are the clusters this node's own view has down, which the held
	// view keeps up.
	Lost  []string `json:"lost"`
	Known int      `json:"known"` // clusters in the store
	// Startup is true while the node, just started, waits for its own
	// view to agree with the one it published before it stopped.
	Startup bool `json:"startup,omitempty"`
}

// Active reports whether the view is held.
func (h Hold) Active() bool { return !h.Since.IsZero() }

// HoldStatus is the optional capability of a Health to say it holds its
// last good view; the server puts it in the zone's comments.
type HoldStatus interface {
	Hold() Hold
}

// holdDown applies the rule to successive candidate views.
type holdDown struct {
	hold, window time.Duration

	recent  map[string]time.Time // clusters lost from the published view, and when
	begun   bool                 // next was called once: the start is behind
	startup bool                 // holding because the node just started
	since   time.Time            // zero: not holding
	until   time.Time
	good    map[string]bool // the view held
	lost    []string        // what the candidate has down that good has up
}

func newHoldDown(hold, window time.Duration) *holdDown {
	return &holdDown{hold: hold, window: window, recent: map[string]time.Time{}}
}

// next returns the view to publish, given the one published and the
// candidate computed from the sources now. Only a cluster published up
// can be lost: one the published view does not have (new in the store, or
// a first start without a saved view) is taken as the candidate has it.
func (h *holdDown) next(published, cand map[string]bool, now time.Time) map[string]bool {
	for name, up := range cand {
		if up {
			delete(h.recent, name)
		} else if published[name] && h.recent[name].IsZero() {
			h.recent[name] = now
		}
	}
	for name, at := range h.recent {
		if _, known := cand[name]; !known || now.Sub(at) > h.window {
			delete(h.recent, name)
		}
	}
	if h.hold <= 0 {
		return cand
	}
	if !h.begun {
		h.begun = true
		if len(h.recent) > 0 {
			h.start(published, cand, now, min(h.window, h.hold))
			h.startup = true
		}
	}
	if h.holding() {
		h.lost = lostFrom(h.good, cand)
		switch {
		case len(h.lost) == 0:
			h.release() // recovered
			return cand
		case now.Before(h.until):
			return h.good
		case h.startup && 2*len(h.lost) > len(cand) && now.Before(h.since.Add(h.hold)):
			// Started, and still more likely cut off than right.
			h.startup, h.until = false, h.since.Add(h.hold)
			return h.good
		}
		h.release() // the hold-down has passed: believe the own view
		return cand
	}
	if 2*len(h.recent) <= len(cand) {
		return cand
	}
	// Cut off, more likely than right: hold the view before these losses.
	h.start(published, cand, now, h.hold)
	return h.good
}

// start holds the view published before the recent losses.
func (h *holdDown) start(published, cand map[string]bool, now time.Time, d time.Duration) {
	h.since, h.until = now, now.Add(d)
	h.good = make(map[string]bool, len(cand))
	for name, upNow := range cand {
		up, ok := published[name]
		h.good[name] = up || !ok && upNow || !h.recent[name].IsZero()
	}
	h.lost = lostFrom(h.good, cand)
}

func (h *holdDown) holding() bool { return !h.since.IsZero() }

func (h *holdDown) release() {
	h.since, h.until, h.good, h.lost, h.startup = time.Time{}, time.Time{}, nil, nil, false
	h.recent = map[string]time.Time{}
}

// status describes the hold.
func (h *holdDown) status() Hold {
	if !h.holding() {
		return Hold{}
	}
	return Hold{Since: h.since, Until: h.until, Lost: append([]string(nil), h.lost...), Known: len(h.good), Startup: h.startup}
}

// lostFrom lists the clusters up in good and down in cand, sorted.
func lostFrom(good, cand map[string]bool) []string {
	var out []string
	for name, up := range cand {
		if !up && good[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
