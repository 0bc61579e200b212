package dundi

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// Store is what StoreDirectory reads: consistent snapshots, a channel
// closed at the next commit, and a count of the commits that wrote the
// tables it reads.
type Store interface {
	View(fn func(*store.Snapshot) error) error
	Changed() <-chan struct{}
	TableWrites(tables ...string) uint64
}

// indexTables are the tables an index is built from.
var indexTables = []string{pbx.Clusters.Name, pbx.Extensions.Name}

var _ Store = (*store.Store)(nil)

// StoreDirectoryConfig configures a StoreDirectory.
type StoreDirectoryConfig struct {
	// Mappings build the answers of each DUNDi context (ParseMappings).
	Mappings []Mapping
	// Secret is what ${SECRET} expands to.
	Secret string
	// WeightStep is added to the weight per place in a number's
	// preference order (home cluster first, then its failover list) [100].
	WeightStep int
	// EIDOf names the entity that answers for a cluster [ClusterEID].
	EIDOf func(cluster string) EID
	// Logger receives index rebuild lines; slog.Default() when nil.
	Logger *slog.Logger
}

// StoreDirectory answers from a pbxtopo store: the extensions marked
// roaming on every cluster, at each cluster's voice VIP, home cluster
// first, dead clusters left out. It keeps an in-memory index, rebuilt by
// Run whenever the store changes, so a lookup never touches the disk.
type StoreDirectory struct {
	st     Store
	health Health
	cfg    StoreDirectoryConfig
	log    *slog.Logger
	idx    atomic.Pointer[index]
	gen    atomic.Uint64
	// built is the store's TableWrites of indexTables read before the
	// current index's snapshot.
	built atomic.Uint64
}

var (
	_ Directory = (*StoreDirectory)(nil)
	_ DontAsker = (*StoreDirectory)(nil)
	_ Instant   = (*StoreDirectory)(nil)

	_ LookupAppender = (*StoreDirectory)(nil)
)

// Instant reports that lookups read the in-memory index only. The Health
// given to NewStoreDirectory must answer from memory too.
func (d *StoreDirectory) Instant() bool { return true }

// NewStoreDirectory builds the first index. health may be nil (every
// cluster is up).
func NewStoreDirectory(st Store, health Health, cfg StoreDirectoryConfig) (*StoreDirectory, error) {
	if cfg.WeightStep == 0 {
		cfg.WeightStep = 100
	}
	if cfg.EIDOf == nil {
		cfg.EIDOf = ClusterEID
	}
	d := &StoreDirectory{st: st, health: health, cfg: cfg, log: cfg.Logger}
	if d.log == nil {
		d.log = slog.Default()
	}
	if err := d.Rebuild(); err != nil {
		return nil, err
	}
	return d, nil
}

// Run rebuilds the index after every change of the clusters or the
// extensions until ctx ends; commits to other tables (watermarks, the
// replication's own records) leave it alone: at a million extensions their
// rebuilds took 15% of an agent's CPU while it served 5,000 clients.
// Changes made while a rebuild runs trigger the next one, so a burst of
// commits costs a few rebuilds, not one each. After a rebuild that took d,
// the next waits rebuildPause(d): a rebuild reads every
// extension (a second or more with a million), and back to back during a
// catch-up or an import they took half the CPU the commits needed. An
// idle store's first change is still rebuilt at once.
func (d *StoreDirectory) Run(ctx context.Context) error {
	for {
		changed := d.st.Changed() // before reading, so no commit slips between
		if d.st.TableWrites(indexTables...) != d.built.Load() {
			start := time.Now()
			if err := d.Rebuild(); err != nil {
				d.log.Error("dundi: index rebuild failed; answering from the previous one", "err", err)
			}
			pause := time.NewTimer(rebuildPause(time.Since(start)))
			select {
			case <-ctx.Done():
				pause.Stop()
				return nil
			case <-pause.C:
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// rebuildPause is the wait after a rebuild that took d before the next:
// 3d, so rebuilds take at most a quarter of a CPU however fast the store
// changes (at most 10 s: the answers' delay behind a busy store).
func rebuildPause(d time.Duration) time.Duration { return min(3*d, 10*time.Second) }

// Generation counts the index builds (tests wait for a rebuild with it).
func (d *StoreDirectory) Generation() uint64 { return d.gen.Load() }

// Rebuild reads the store and swaps in a new index.
func (d *StoreDirectory) Rebuild() error {
	start := time.Now()
	// Read before the snapshot: a commit between the two is in the
	// snapshot and makes the next check rebuild once more, never less.
	writes := d.st.TableWrites(indexTables...)
	var idx *index
	err := d.st.View(func(sn *store.Snapshot) (err error) {
		idx, err = buildIndex(sn, d.cfg.EIDOf, d.idx.Load())
		return err
	})
	if err != nil {
		return fmt.Errorf("dundi: read the store: %w", err)
	}
	var missing []string
	for _, c := range idx.names {
		if ci := &idx.clusters[c]; ci.vip == "" {
			missing = append(missing, ci.name)
		}
	}
	if len(missing) > 0 {
		d.log.Warn("dundi: clusters with roaming numbers but no voice_vip; their answers are left out", "clusters", strings.Join(missing, ","))
	}
	d.idx.Store(idx)
	d.built.Store(writes)
	d.gen.Add(1)
	d.log.Debug("dundi: index rebuilt", "numbers", idx.size(), "took", time.Since(start))
	return nil
}

// preference orders the clusters holding a number: the home cluster (the
// one with the mailbox), then the clusters of its failover list in order,
// then the rest by name.
func preference(holders []string, home string, clusters map[string]clusterInfo) []string {
	sort.Strings(holders)
	if home == "" {
		return holders
	}
	out := make([]string, 0, len(holders))
	out = append(out, home)
	for _, f := range clusters[home].failover {
		if f != home && slices.Contains(holders, f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, h := range holders {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

func (d *StoreDirectory) up(cluster string) bool { return d.health == nil || d.health.Up(cluster) }

// Lookup answers a number: for each mapping of the context, one answer
// per live cluster. A cluster that holds the number itself gets EXISTS
// and a destination; one that holds longer numbers starting with it gets
// CANMATCH|MATCHMORE (unless the mapping says nopartial).
func (d *StoreDirectory) Lookup(ctx context.Context, number, dcontext string) ([]Answer, error) {
	return d.AppendLookup(ctx, nil, number, dcontext)
}

// AppendLookup is Lookup appending the answers to dst.
func (d *StoreDirectory) AppendLookup(ctx context.Context, dst []Answer, number, dcontext string) ([]Answer, error) {
	idx := d.idx.Load()
	out := dst
	mapped := false
	i, found := idx.find(number)
	var longer bool
	if found {
		longer = idx.hasLongerAt(i)
	} else {
		longer = idx.anyLonger(number)
	}
	for k := range d.cfg.Mappings {
		m := &d.cfg.Mappings[k]
		if !strings.EqualFold(m.Context, dcontext) {
			continue
		}
		mapped = true
		var seenBuf [8]uint16
		seen := seenBuf[:0] // clusters answered with EXISTS (a few at most)
		if found {
			holders := idx.holdersOf(i)
			out = slices.Grow(out, len(holders))
			for rank, c := range holders {
				ci := &idx.clusters[c]
				if ci.vip == "" || !d.up(ci.name) {
					continue
				}
				if longer {
					seen = append(seen, c)
				}
				flags := FlagExists
				if !m.NoPartial {
					flags |= FlagCanMatch
					if longer && idx.hasLonger(c, number) {
						flags |= FlagMatchMore
					}
				}
				out = append(out, Answer{
					Cluster: ci.name, EID: ci.id, Tech: m.Tech, Flags: flags | m.Flags,
					Weight: min(m.Weight+rank*d.cfg.WeightStep, MaxWeight),
					Dest:   d.expand(m, number, ci),
				})
			}
		}
		if m.NoPartial || !longer {
			continue
		}
		for _, c := range idx.names {
			ci := &idx.clusters[c]
			if slices.Contains(seen, c) || !idx.hasLonger(c, number) || !d.up(ci.name) {
				continue
			}
			out = append(out, Answer{Cluster: ci.name, EID: ci.id, Tech: m.Tech,
				Flags: FlagCanMatch | FlagMatchMore | m.Flags, Weight: m.Weight})
		}
	}
	if !mapped {
		return nil, fmt.Errorf("%w %q: add a dundi.mappings entry for it", ErrUnknownContext, dcontext)
	}
	return out, ctx.Err()
}

func (d *StoreDirectory) expand(m *Mapping, number string, ci *clusterInfo) string {
	return m.Dest.Expand(func(name string) string {
		switch name {
		case "NUMBER":
			return number
		case "IPADDR":
			return ci.vip
		case "SECRET":
			return d.cfg.Secret
		case "EID":
			return ci.eid
		case "CLUSTER":
			return ci.name
		}
		return ""
	})
}

// DontAsk returns the shortest prefix of number that no roaming number
// starts with ("" when every prefix has some).
func (d *StoreDirectory) DontAsk(number, dcontext string) string {
	idx := d.idx.Load()
	for k := 1; k <= len(number); k++ {
		p := number[:k]
		i := idx.search(p)
		if i == idx.size() || !startsWith(idx.number(i), p) {
			return p
		}
	}
	return ""
}

// DirectoryConfig returns the StoreDirectoryConfig of a peer's Config:
// its mappings and secret.
func (c Config) DirectoryConfig() (StoreDirectoryConfig, error) {
	maps, err := ParseMappings(c.Mappings)
	if err != nil {
		return StoreDirectoryConfig{}, err
	}
	return StoreDirectoryConfig{Mappings: maps, Secret: c.Secret}, nil
}
