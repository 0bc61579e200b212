package srv

import (
	"sort"
	"time"
)

// The hold-down rule. A node that loses more than half of the clusters
// the store knows within HoldDownWindow is more likely cut off from them
// than right about them: it keeps publishing its last good view for
// HoldDown, and says so (Hold), until that time passes or its own view
// recovers (loses at most half of the good view). While it holds, the
// zone does not change, so it sends no NOTIFY for the shrunken zone. A
// node that starts holds the same way against the view it published
// before it stopped (so a restart serves what it served, before its
// membership has caught up).

// Hold says whether the health view is held, and why.
type Hold struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Lost are the clusters this node's own view has down, which the held
	// view keeps up.
	Lost  []string `json:"lost"`
	Known int      `json:"known"` // clusters in the store
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

	recent map[string]time.Time // clusters lost from the published view, and when
	since  time.Time            // zero: not holding
	good   map[string]bool      // the view held
	lost   []string             // what the candidate has down that good has up
}

func newHoldDown(hold, window time.Duration) *holdDown {
	return &holdDown{hold: hold, window: window, recent: map[string]time.Time{}}
}

// next returns the view to publish, given the one published (a cluster
// missing from it counts as up) and the candidate computed from the
// sources now.
func (h *holdDown) next(published, cand map[string]bool, now time.Time) map[string]bool {
	for name, up := range cand {
		if up {
			delete(h.recent, name)
		} else if was, ok := published[name]; (!ok || was) && h.recent[name].IsZero() {
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
	known := len(cand)
	if h.holding() {
		h.lost = lostFrom(h.good, cand)
		if now.Sub(h.since) >= h.hold || 2*len(h.lost) <= known {
			h.release()
			return cand
		}
		return h.good
	}
	if 2*len(h.recent) <= known {
		return cand
	}
	// Cut off, more likely than right: hold the view before these losses.
	h.since = now
	h.good = make(map[string]bool, len(cand))
	for name := range cand {
		up, ok := published[name]
		h.good[name] = !ok || up || !h.recent[name].IsZero()
	}
	h.lost = lostFrom(h.good, cand)
	return h.good
}

func (h *holdDown) holding() bool { return !h.since.IsZero() }

func (h *holdDown) release() {
	h.since, h.good, h.lost = time.Time{}, nil, nil
	h.recent = map[string]time.Time{}
}

// status describes the hold.
func (h *holdDown) status() Hold {
	if !h.holding() {
		return Hold{}
	}
	return Hold{Since: h.since, Until: h.since.Add(h.hold), Lost: append([]string(nil), h.lost...), Known: len(h.good)}
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
