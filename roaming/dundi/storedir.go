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

// Store is what StoreDirectory reads: consistent snapshots, and a channel
// closed at the next commit.
type Store interface {
	View(fn func(*store.Snapshot) error) error
	Changed() <-chan struct{}
}

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
}

var (
	_ Directory = (*StoreDirectory)(nil)
	_ DontAsker = (*StoreDirectory)(nil)
	_ Instant   = (*StoreDirectory)(nil)
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

// Run rebuilds the index after every change of the store until ctx ends.
// Changes made while a rebuild runs trigger the next one, so a burst of
// commits costs a few rebuilds, not one each. After a rebuild that took d,
// the next waits rebuildPause(d): a rebuild reads every
// extension (a second or more with a million), and back to back during a
// catch-up or an import they took half the CPU the commits needed. An
// idle store's first change is still rebuilt at once.
func (d *StoreDirectory) Run(ctx context.Context) error {
	for {
		changed := d.st.Changed() // before reading, so no commit slips between
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

// clusterInfo is what the index knows of a cluster.
type clusterInfo struct {
	vip      string
	failover []string
	eid      string
	id       EID // eid, as answers carry it (a hash: computed once here)
}

// entry is one roaming number: the clusters that hold it, in preference
// order, and whether a longer roaming number starts with it (most
// lookups then need no search of the sorted lists).
type entry struct {
	clusters []string
	longer   bool
}

type index struct {
	numbers    map[string]*entry
	perCluster map[string][]string // cluster → its roaming numbers, sorted
	all        []string            // every roaming number, sorted
	clusters   map[string]clusterInfo
	names      []string // clusters with roaming numbers, sorted
}

// Rebuild reads the store and swaps in a new index.
func (d *StoreDirectory) Rebuild() error {
	start := time.Now()
	idx := &index{numbers: map[string]*entry{}, perCluster: map[string][]string{}, clusters: map[string]clusterInfo{}}
	homes := map[string]string{}
	err := d.st.View(func(sn *store.Snapshot) error {
		err := sn.Scan(pbx.Clusters.Name, "", func(key string, v []byte) error {
			vip, _ := pbx.LookupField(v, "voice_vip")
			fo, _ := pbx.LookupField(v, "failover")
			id := d.cfg.EIDOf(key)
			idx.clusters[key] = clusterInfo{vip: vip, failover: pbx.List(fo), eid: id.String(), id: id}
			return nil
		})
		if err != nil {
			return err
		}
		return sn.Scan(pbx.Extensions.Name, "", func(key string, v []byte) error {
			if !pbx.HasField(v, "roaming", "yes") {
				return nil
			}
			cluster, number, ok := strings.Cut(key, "/")
			if !ok || number == "" {
				return nil
			}
			e := idx.numbers[number]
			if e == nil {
				e = &entry{}
				idx.numbers[number] = e
				idx.all = append(idx.all, number)
			}
			e.clusters = append(e.clusters, cluster)
			idx.perCluster[cluster] = append(idx.perCluster[cluster], number)
			if mb, _ := pbx.LookupField(v, "mailbox"); mb != "" {
				if h, seen := homes[number]; !seen || cluster < h {
					homes[number] = cluster
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("dundi: read the store: %w", err)
	}
	sort.Strings(idx.all)
	for i, number := range idx.all {
		// The next number in order is the first longer one with this prefix, if any is.
		idx.numbers[number].longer = i+1 < len(idx.all) && strings.HasPrefix(idx.all[i+1], number)
	}
	for c, nums := range idx.perCluster {
		sort.Strings(nums)
		idx.names = append(idx.names, c)
	}
	sort.Strings(idx.names)
	missing := map[string]bool{}
	for number, e := range idx.numbers {
		e.clusters = preference(e.clusters, homes[number], idx.clusters)
		for _, c := range e.clusters {
			if idx.clusters[c].vip == "" {
				missing[c] = true
			}
		}
	}
	if len(missing) > 0 {
		d.log.Warn("dundi: clusters with roaming numbers but no voice_vip; their answers are left out", "clusters", strings.Join(sortedKeys(missing), ","))
	}
	d.idx.Store(idx)
	d.gen.Add(1)
	d.log.Debug("dundi: index rebuilt", "numbers", len(idx.numbers), "took", time.Since(start))
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

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d *StoreDirectory) up(cluster string) bool { return d.health == nil || d.health.Up(cluster) }

// Lookup answers a number: for each mapping of the context, one answer
// per live cluster. A cluster that holds the number itself gets EXISTS
// and a destination; one that holds longer numbers starting with it gets
// CANMATCH|MATCHMORE (unless the mapping says nopartial).
func (d *StoreDirectory) Lookup(ctx context.Context, number, dcontext string) ([]Answer, error) {
	idx := d.idx.Load()
	var out []Answer
	mapped := false
	e := idx.numbers[number]
	var longer bool
	if e != nil {
		longer = e.longer
	} else {
		longer = idx.anyLonger(number)
	}
	for i := range d.cfg.Mappings {
		m := &d.cfg.Mappings[i]
		if !strings.EqualFold(m.Context, dcontext) {
			continue
		}
		mapped = true
		var seen []string // clusters answered with EXISTS (a few at most)
		if e != nil {
			for rank, c := range e.clusters {
				ci, known := idx.clusters[c]
				if !known || ci.vip == "" || !d.up(c) {
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
				if out == nil {
					out = make([]Answer, 0, len(e.clusters))
				}
				out = append(out, Answer{
					Cluster: c, EID: ci.id, Tech: m.Tech, Flags: flags | m.Flags,
					Weight: min(m.Weight+rank*d.cfg.WeightStep, MaxWeight),
					Dest:   d.expand(m, number, c, ci),
				})
			}
		}
		if m.NoPartial || !longer {
			continue
		}
		for _, c := range idx.names {
			if slices.Contains(seen, c) || !idx.hasLonger(c, number) || !d.up(c) {
				continue
			}
			id, known := idx.clusters[c]
			if !known {
				id.id = d.cfg.EIDOf(c)
			}
			out = append(out, Answer{Cluster: c, EID: id.id, Tech: m.Tech,
				Flags: FlagCanMatch | FlagMatchMore | m.Flags, Weight: m.Weight})
		}
	}
	if !mapped {
		return nil, fmt.Errorf("%w %q: add a dundi.mappings entry for it", ErrUnknownContext, dcontext)
	}
	return out, ctx.Err()
}

func (d *StoreDirectory) expand(m *Mapping, number, cluster string, ci clusterInfo) string {
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
			return cluster
		}
		return ""
	})
}

// anyLonger reports whether any cluster holds a roaming number that
// starts with prefix and is longer: one search that spares the per-cluster
// ones for the usual full-length number.
func (idx *index) anyLonger(prefix string) bool {
	i := sort.SearchStrings(idx.all, prefix)
	if i < len(idx.all) && idx.all[i] == prefix {
		i++
	}
	return i < len(idx.all) && strings.HasPrefix(idx.all[i], prefix)
}

// hasLonger reports whether cluster holds a roaming number that starts
// with prefix and is longer than it.
func (idx *index) hasLonger(cluster, prefix string) bool {
	nums := idx.perCluster[cluster]
	i := sort.SearchStrings(nums, prefix)
	if i < len(nums) && nums[i] == prefix {
		i++
	}
	return i < len(nums) && strings.HasPrefix(nums[i], prefix)
}

// DontAsk returns the shortest prefix of number that no roaming number
// starts with ("" when every prefix has some).
func (d *StoreDirectory) DontAsk(number, dcontext string) string {
	all := d.idx.Load().all
	for k := 1; k <= len(number); k++ {
		p := number[:k]
		i := sort.SearchStrings(all, p)
		if i == len(all) || !strings.HasPrefix(all[i], p) {
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
