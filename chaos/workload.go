package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/replicator"
	"github.com/pbxtopo/pbxtopo/store"
)

// Write is one client write of the workload, as the checker records it:
// what the client read (the versions it supersedes) before writing, and
// whether the write was acknowledged.
type Write struct {
	ID      int
	Node    string
	Table   string
	Key     string
	Delete  bool
	Resolve bool        // superseded every live version (a conflict resolution)
	Read    []store.Dot // the versions it supersedes
	// Seen is what the replica had applied when the client wrote: a
	// tombstone it covers that the client did not find was purged.
	Seen  store.Summary
	Acked bool
	Dot   store.Dot // when acknowledged
	Err   string
	At    time.Time
}

// History is every write attempted in a run.
type History struct {
	Writes  []*Write
	Refused int // writes a read-only replica refused (primary mode), as it must
}

// authorPrefix marks the workload's writes; the write id follows.
const authorPrefix = "chaos:w"

// Enterprise-wide and site-only tables of the workload.
const (
	enterpriseTable = "extensions"
	siteTable       = "hotdesks"
)

// ClientWrite makes one write at replica i the way a client does: read the
// record, then write superseding what it read. It returns nil when the
// replica is down.
func (s *Sim) ClientWrite(h *History, i int, table, key string, del, resolve bool) *Write {
	n := s.nodes[i]
	if !n.live() {
		return nil
	}
	w := &Write{ID: len(h.Writes) + 1, Node: n.name, Table: table, Key: key, Resolve: resolve, At: s.now}
	if err := n.rep.CheckWrite(table); err != nil {
		if errors.Is(err, replicator.ErrReadOnlyReplica) {
			h.Refused++
			return nil
		}
	}
	var rec *store.Record
	n.st.View(func(sn *store.Snapshot) error {
		var err error
		rec, err = sn.Get(table, key)
		return err
	})
	m := store.Mutation{Table: table, Key: key}
	exists := rec != nil && rec.Exists()
	w.Delete = del && exists
	if !w.Delete {
		m.Value = pbx.Fields{"name": fmt.Sprintf("written by w%d at %s", w.ID, n.name), "w": fmt.Sprint(w.ID)}.AppendBinary(nil)
	}
	if rec != nil {
		if resolve {
			m.SupersedeAll = true
			w.Read = rec.Dots()
		} else {
			m.IfMatch = []store.Dot{rec.Winner().Dot}
			w.Read = m.IfMatch
			if !slices.ContainsFunc(rec.Versions, func(v store.Version) bool { return !v.Deleted }) {
				w.Read = rec.Dots() // tombstones alone go together (store.writeContext)
			}
		}
	}
	w.Seen = n.st.Summary()
	h.Writes = append(h.Writes, w)
	res, err := n.st.Write(context.Background(), fmt.Sprintf("%s%d", authorPrefix, w.ID), []store.Mutation{m})
	if err != nil {
		w.Err = err.Error()
		return w
	}
	w.Acked = true
	w.Dot = res.Dots[0]
	return w
}

// RandomWrite makes a write at a random live replica on a small key space,
// so that replicas write the same records at once.
func (s *Sim) RandomWrite(h *History, keys int) *Write {
	i := s.rnd.Intn(len(s.nodes))
	table, key := enterpriseTable, fmt.Sprintf("k%02d", s.rnd.Intn(keys))
	if s.cfg.Mode == replicator.Site && s.rnd.Intn(4) == 0 {
		table, key = siteTable, fmt.Sprintf("%s/h%02d", s.nodes[i].site, s.rnd.Intn(keys/2+1))
	}
	r := s.rnd.Intn(100)
	return s.ClientWrite(h, i, table, key, r < 15, r >= 90)
}

// writeID returns the workload write id of an author, or 0.
func writeID(author string) int {
	var id int
	if !strings.HasPrefix(author, authorPrefix) {
		return 0
	}
	fmt.Sscan(strings.TrimPrefix(author, authorPrefix), &id)
	return id
}
