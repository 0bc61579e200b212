package srv

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/store"
)

// The checker keeps the view it published in the store's local, never
// replicated, key-value space, so that the next start answers from it
// until its own view has caught up (the hold-down rule): a restart then
// serves the zone it served, and keeps its serial.

const viewKey = "srv/health/view"

// loadView reads the saved view: cluster → up. Empty when none was saved.
func loadView(src Source) map[string]bool {
	view := map[string]bool{}
	src.View(func(sn *store.Snapshot) error {
		for _, line := range strings.Split(string(sn.Local(viewKey)), "\n") {
			if name, state, ok := strings.Cut(line, " "); ok && name != "" {
				view[name] = state == "up"
			}
		}
		return nil
	})
	return view
}

// saveView writes the view when the source can write its local space.
func saveView(ctx context.Context, src Source, view map[string]bool, log *slog.Logger) {
	w, ok := src.(localWriter)
	if !ok {
		return
	}
	names := make([]string, 0, len(view))
	for name := range view {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		state := "down"
		if view[name] {
			state = "up"
		}
		b.WriteString(name + " " + state + "\n")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := w.WriteLocal(ctx, "srv", nil, map[string][]byte{viewKey: []byte(b.String())}); err != nil && ctx.Err() == nil {
		log.Warn("health: the published view was not saved for the next start", "err", err)
	}
}
