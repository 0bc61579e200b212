package ami

import (
	"context"
	"strconv"
	"strings"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Flush writes what changed since the last flush to the store in one
// transaction: the entries of dirty extensions and trunks whose status
// columns differ from what was last written (a qualify round trip that
// moved by less than LastmsJitter does not count), removals, and the
// health entry when it changed or the heartbeat is due. It returns the
// number of entries written.
func (c *Collector) Flush(ctx context.Context) (int, error) {
	c.mu.Lock()
	noIndex := c.ix == nil
	c.mu.Unlock()
	if noIndex {
		if err := c.loadIndex(); err != nil {
			return 0, err
		}
	}
	c.mu.Lock()
	if c.written == nil || !c.loadedOwn {
		c.mu.Unlock()
		if err := c.loadOwn(); err != nil {
			return 0, err
		}
		c.mu.Lock()
	}
	now := c.now()
	stamp := strconv.FormatInt(now.UnixMilli(), 10)
	entries := map[string][]byte{}
	next := map[string]pbx.Fields{}
	taken := c.dirty
	c.dirty = map[string]bool{}
	for key := range taken {
		sk, f := c.derive(key)
		old, had := c.written[sk]
		if f == nil {
			if had {
				entries[sk], next[sk] = nil, nil
			}
			continue
		}
		if had && c.same(old, f) {
			continue
		}
		next[sk] = f
		entries[sk] = Encode(stamped(f, c.cfg.Node, stamp))
	}
	hk := HealthKey(c.cfg.Cluster, c.cfg.Node)
	hf := c.healthFields()
	if old, had := c.written[hk]; !had || !old.Equal(hf) || now.Sub(c.health.lastWrite) >= c.cfg.Heartbeat {
		next[hk] = hf
		entries[hk] = Encode(stamped(hf, c.cfg.Node, stamp))
	}
	c.mu.Unlock()
	if len(entries) == 0 {
		return 0, nil
	}
	if err := c.st.PutStatus(ctx, entries); err != nil {
		c.mu.Lock()
		for k := range taken {
			c.dirty[k] = true // written next time
		}
		c.mu.Unlock()
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, f := range next {
		if f == nil {
			delete(c.written, k)
		} else {
			c.written[k] = f
		}
	}
	if _, ok := entries[hk]; ok {
		c.health.lastWrite = now
	}
	c.stats.Flushes++
	for k, v := range entries {
		c.stats.EntriesWritten++
		c.stats.BytesWritten += uint64(len(k) + len(v))
	}
	c.feed.add(entries)
	return len(entries), nil
}

// stamped returns f with the writer and the time added.
func stamped(f pbx.Fields, node, stamp string) pbx.Fields {
	g := f.Clone()
	g["node"], g["updated"] = node, stamp
	return g
}

// derive returns the status key and columns of a dirty name, or nil
// columns when the extension or trunk is no longer configured.
func (c *Collector) derive(name string) (string, pbx.Fields) {
	if t, ok := strings.CutPrefix(name, "trunk:"); ok {
		sk := TrunkKey(c.cfg.Cluster, t, c.cfg.Node)
		s, cfg := c.trunks[t], c.ix.trunks[t]
		if s == nil || cfg == nil {
			return sk, nil
		}
		return sk, s.fields(cfg)
	}
	sk := ExtKey(c.cfg.Cluster, name, c.cfg.Node)
	s := c.exts[name]
	if s == nil || !c.ix.exts[name] {
		return sk, nil
	}
	return sk, s.fields(c.cfg.Node)
}

// same reports whether new columns are worth no write: equal, or
// differing only by a small change of the round trip.
func (c *Collector) same(old, f pbx.Fields) bool {
	if old.Equal(f) {
		return true
	}
	if old["lastms"] == "" || f["lastms"] == "" {
		return false
	}
	a, b := atoiDefault(old["lastms"], -1), atoiDefault(f["lastms"], -1)
	d := a - b
	if d < 0 {
		d = -d
	}
	if d >= c.cfg.LastmsJitter && d*4 >= a {
		return false
	}
	g := f.Clone()
	g["lastms"] = old["lastms"]
	return old.Equal(g)
}

// loadOwn reads the entries this node wrote before it (re)started, so
// that unchanged ones are not written again and ones for extensions that
// are gone are removed.
func (c *Collector) loadOwn() error {
	own := map[string]pbx.Fields{}
	err := c.st.View(func(sn *store.Snapshot) error {
		for _, kind := range []string{KindExt, KindTrunk, KindHealth} {
			views, err := ReadStatus(sn, kind, c.cfg.Cluster)
			if err != nil {
				return err
			}
			for _, v := range views {
				if v.Key.Node != c.cfg.Node {
					continue
				}
				f := v.Fields.Clone()
				delete(f, "node")
				delete(f, "updated")
				switch v.Key.Kind {
				case KindExt:
					own[ExtKey(v.Key.Cluster, v.Key.Name, v.Key.Node)] = f
				case KindTrunk:
					own[TrunkKey(v.Key.Cluster, v.Key.Name, v.Key.Node)] = f
				default:
					own[HealthKey(v.Key.Cluster, v.Key.Node)] = f
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = own
	c.loadedOwn = true
	for k := range own {
		key, _ := ParseKey(k)
		switch key.Kind {
		case KindExt:
			c.dirty[key.Name] = true
		case KindTrunk:
			c.dirty["trunk:"+key.Name] = true
		}
	}
	return nil
}

// changeFeed keeps the last flushed batches for a replicator that polls.
type changeFeed struct {
	seq     uint64
	batches []feedBatch
}

type feedBatch struct {
	seq     uint64
	entries map[string][]byte
}

const feedKeep = 256

func (f *changeFeed) add(entries map[string][]byte) {
	f.seq++
	f.batches = append(f.batches, feedBatch{f.seq, entries})
	if len(f.batches) > feedKeep {
		f.batches = append(f.batches[:0:0], f.batches[len(f.batches)-feedKeep:]...)
	}
}

// ChangesSince returns the entries written after flush number seq (a nil
// value is a removal), newest value per key, and the number to pass next
// time. ok is false when seq is older than the batches kept: the caller
// then sends a full SnapshotStatus of the node's keys instead.
func (c *Collector) ChangesSince(seq uint64) (entries map[string][]byte, next uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := &c.feed
	if seq > f.seq {
		return nil, f.seq, false // a feed from an earlier run of this node
	}
	if len(f.batches) > 0 && f.batches[0].seq > seq+1 {
		return nil, f.seq, false
	}
	entries = map[string][]byte{}
	for _, b := range f.batches {
		if b.seq > seq {
			for k, v := range b.entries {
				entries[k] = v
			}
		}
	}
	return entries, f.seq, true
}
