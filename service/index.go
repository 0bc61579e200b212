package service

import (
	"cmp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// extIndex is an in-memory index of the extensions for listings and
// searches, kept up to date from the store's change log. It answers a
// page of a million extensions, in any indexed order, with any filter or
// search, without reading or sorting the million: the rows as of the last
// rebuild are a compact, immutable base (index_base.go); rows written
// since are a small fresh set, merged into each answer.
type extIndex struct {
	mu    sync.Mutex // one refresh at a time
	state sync.RWMutex
	sum   store.Summary
	base  *baseIndex
	// gone marks the base rows replaced or deleted since the rebuild;
	// fresh holds the rows written since, by key.
	gone bitset
	// gonePos are the gone rows' places in columns 0 (their ids), 1 and
	// 2, ascending: a page deep in an unfiltered listing counts the live
	// rows before a place without walking them (skip).
	gonePos [3][]uint32
	fresh   map[string]*idxRow
}

// idxRow is one extension as the index sees it: a row written since the
// last rebuild, or one read for a test's reference.
type idxRow struct {
	key, num, name, group, cluster, site string
	lower                                [4]string     // name, group, cluster, site, lower-cased
	sort                                 [6]naturalKey // key, num, name, group, cluster, site
	words                                []string      // the words a search matches, lower-cased
	// pos is, per indexed column, how many base rows sort before this
	// row (its place when merged into a base listing).
	pos [6]int
}

// naturalKey is a value prepared for natural order (naturalLess) once, so
// sorting thousands of rows compares without parsing or allocating.
type naturalKey struct {
	s, lower string
	num      float64
	isNum    bool
}

func newNaturalKey(s string) naturalKey {
	n, err := strconv.ParseFloat(s, 64)
	return naturalKey{s: s, lower: strings.ToLower(s), num: n, isNum: err == nil}
}

func (a naturalKey) compare(b naturalKey) int {
	switch {
	case a.isNum && b.isNum && a.num != b.num:
		return cmp.Compare(a.num, b.num)
	case a.lower != b.lower:
		return strings.Compare(a.lower, b.lower)
	}
	return strings.Compare(a.s, b.s)
}

type changeReader interface {
	ChangesSince(have store.Summary, want func(store.Stream) bool, maxBytes int) (*store.Batch, error)
}

// refresh brings the index up to date: the changes logged since the last
// refresh, or a full rebuild when some are not in the log (a snapshot
// catch-up) or at the first call.
func (x *extIndex) refresh(st Store) error {
	// Every change raises the store's summary: an equal summary means
	// nothing to do, without the refresh lock or a read transaction.
	if sm, ok := baseStore(st).(interface{ Summary() store.Summary }); ok {
		now := sm.Summary()
		x.state.RLock()
		same := x.base != nil && x.sum.Equal(now)
		x.state.RUnlock()
		if same {
			return nil
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	cr, ok := baseStore(st).(changeReader)
	if !ok || x.base == nil {
		return x.rebuild(st)
	}
	all := func(store.Stream) bool { return true }
	for {
		b, err := cr.ChangesSince(x.sum, all, 4<<20)
		if err != nil {
			return err
		}
		if b.NeedSnapshot {
			return x.rebuild(st)
		}
		var keys []string
		for _, c := range b.Changes {
			if c.Table == pbx.Extensions.Name {
				keys = append(keys, c.Key)
			}
		}
		if len(keys) > 0 {
			if err := x.update(st, keys); err != nil {
				return err
			}
		}
		x.state.Lock()
		for _, c := range b.Changes {
			x.sum[c.Dot.Stream] = max(x.sum[c.Dot.Stream], c.Dot.Seq)
		}
		x.state.Unlock()
		if !b.More {
			// A snapshot may have raised the summary past the log: the
			// summary then covers changes the log never showed.
			if !b.Summary.Equal(x.sumCopy()) {
				return x.rebuild(st)
			}
			return nil
		}
	}
}

func (x *extIndex) sumCopy() store.Summary {
	x.state.RLock()
	defer x.state.RUnlock()
	return x.sum.Clone()
}

func (x *extIndex) rebuild(st Store) error {
	var base *baseIndex
	var sum store.Summary
	err := st.View(func(sn *store.Snapshot) error {
		var err error
		if sum, err = sn.Summary(); err != nil {
			return err
		}
		base, err = buildBase(sn)
		return err
	})
	if err != nil {
		return err
	}
	x.state.Lock()
	x.base, x.sum, x.fresh = base, sum, map[string]*idxRow{}
	x.gone, x.gonePos = newBitset(base.n), [3][]uint32{}
	x.state.Unlock()
	if base.n >= 100_000 {
		// Building took several times what the index keeps: give it back
		// now rather than over minutes.
		debug.FreeOSMemory()
	}
	return nil
}

// freshLimit is how many rows written since the last rebuild the index
// searches one by one before it rebuilds: a share of the base, so that a
// million rows are not indexed again for every few thousand writes.
func freshLimit(base int) int { return max(5000, base/64) }

// update rereads changed records as they show (versions merged).
func (x *extIndex) update(st Store, keys []string) error {
	updated := map[string]*idxRow{}
	err := st.View(func(sn *store.Snapshot) error {
		for _, k := range keys {
			r, err := sn.Get(pbx.Extensions.Name, k)
			if err != nil {
				return err
			}
			if r == nil || !r.Exists() {
				updated[k] = nil
				continue
			}
			row := newIdxRow(k, r.Value())
			x.base.place(row) // the base changes only under x.mu, held here
			updated[k] = row
		}
		return nil
	})
	if err != nil {
		return err
	}
	x.state.Lock()
	for k, row := range updated {
		if id, ok := x.base.find(k); ok && !x.gone.has(id) {
			x.gone.set(id)
			for c, p := range [3]uint32{id, x.base.rank[1][id], x.base.rank[2][id]} {
				i, _ := slices.BinarySearch(x.gonePos[c], p)
				x.gonePos[c] = slices.Insert(x.gonePos[c], i, p)
			}
		}
		if row == nil {
			delete(x.fresh, k)
		} else {
			x.fresh[k] = row
		}
	}
	// Deletions count too: they leave no fresh row, and the gone rows'
	// sorted places grow with each.
	rebuild := max(len(x.fresh), len(x.gonePos[0])) > freshLimit(x.base.n)
	x.state.Unlock()
	if rebuild { // too many rows to search one by one: index them again
		return x.rebuild(st)
	}
	return nil
}

func newIdxRow(key string, v []byte) *idxRow {
	r := &idxRow{key: key}
	var words []string
	pbx.EachField(v, func(name string, value []byte) bool {
		switch name {
		case "regexten":
			r.num = string(value)
		case "name":
			r.name = string(value)
		case "astgroup":
			r.group = string(value)
		case "cluster":
			r.cluster = string(value)
		case "site":
			r.site = string(value)
		}
		if isSearchField(name) {
			for _, w := range searchWords(string(value)) {
				if !slices.Contains(words, w) {
					words = append(words, w)
				}
			}
		}
		return true
	})
	r.words = words
	r.lower = [4]string{strings.ToLower(r.name), strings.ToLower(r.group), strings.ToLower(r.cluster), strings.ToLower(r.site)}
	for i, v := range [6]string{r.key, r.num, r.name, r.group, r.cluster, r.site} {
		r.sort[i] = newNaturalKey(v)
	}
	return r
}

func isSearchField(name string) bool { return slices.Contains(searchFields, name) }

// searchWords splits text into lower-case words (letters and digits).
func searchWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	})
}

// matches reports whether every query word starts some word of the row.
func (r *idxRow) matches(query []string) bool {
	for _, q := range query {
		if !slices.ContainsFunc(r.words, func(w string) bool { return strings.HasPrefix(w, q) }) {
			return false
		}
	}
	return true
}

// indexedSorts are the columns the index can sort by without reading
// records: their place in idxRow.sort.
var indexedSorts = map[string]int{"": 0, "regexten": 1, "name": 2, "astgroup": 3, "cluster": 4, "site": 5}

// search returns the keys of the matching extensions in the query's order
// (only for sorts the index knows), and the total. A search matches the
// rows where every word of it starts a word of the row's name, number,
// caller id, full name, mailbox or description ("geo lop" finds George
// Lopez; "61" finds 6101 to 6199).
func (x *extIndex) search(q Query) ([]string, int) {
	x.state.RLock()
	defer x.state.RUnlock()
	want := [4]string{"", strings.ToLower(q.Group), strings.ToLower(q.Cluster), strings.ToLower(q.Site)}
	query := searchWords(q.Search)
	col := indexedSorts[q.Sort]
	var fresh []*idxRow
	for _, r := range x.fresh {
		if r.keep(want) && r.matches(query) {
			fresh = append(fresh, r)
		}
	}
	slices.SortFunc(fresh, func(a, b *idxRow) int {
		c := a.sort[col].compare(b.sort[col])
		if c == 0 {
			c = a.sort[0].compare(b.sort[0])
		}
		return c
	})
	m := x.base.match(query, want, x.gone, x.gonePos[0])
	defer m.release()
	total := len(fresh) + m.count
	lo := min(max(q.Offset, 0), total)
	hi := total
	if q.Limit > 0 {
		hi = min(lo+q.Limit, total)
	}
	keys := make([]string, 0, hi-lo)
	if hi == lo {
		return keys, total
	}
	// Walk the base matches and the fresh rows merged, in the query's
	// direction, keeping positions lo to hi. A walk of every row starts
	// near lo rather than at the first (skip).
	from, i, f := 0, 0, 0
	if m.all && col <= 2 && lo > 0 {
		from, i, f = x.skip(col, q.Desc, fresh, lo)
	}
	emit := func(key string) bool {
		if i >= lo {
			keys = append(keys, key)
		}
		i++
		return i < hi
	}
	// The page's base keys are copied (a key must not hold the index's
	// memory), all into one string made at the end: one allocation
	// rather than one per key.
	type baseKey struct{ at, end int }
	var keyBytes []byte
	var baseKeys []baseKey
	emitBase := func(id uint32) bool {
		if i < lo { // not kept: no copy of the key
			i++
			return true
		}
		if keyBytes == nil {
			keyBytes = make([]byte, 0, (hi-lo)*16)
			baseKeys = make([]baseKey, 0, hi-lo)
		}
		keyBytes = append(keyBytes, x.base.keys.get(id)...)
		baseKeys = append(baseKeys, baseKey{len(keys), len(keyBytes)})
		return emit("")
	}
	if !q.Desc {
		x.base.walk(m, col, false, x.gone, from, func(id uint32, pos int) bool {
			for ; f < len(fresh) && fresh[f].pos[col] <= pos; f++ {
				if !emit(fresh[f].key) {
					return false
				}
			}
			return emitBase(id)
		})
		for ; i < hi && f < len(fresh); f++ {
			emit(fresh[f].key)
		}
	} else {
		if from == 0 {
			f = len(fresh) - 1
		}
		x.base.walk(m, col, true, x.gone, from, func(id uint32, pos int) bool {
			for ; f >= 0 && fresh[f].pos[col] > pos; f-- {
				if !emit(fresh[f].key) {
					return false
				}
			}
			return emitBase(id)
		})
		for ; i < hi && f >= 0; f-- {
			emit(fresh[f].key)
		}
	}
	all, start := string(keyBytes), 0
	for _, k := range baseKeys {
		keys[k.at], start = all[start:k.end], k.end
	}
	return keys, total
}

// skip finds where a walk of every row in column col (0, 1 or 2) can
// start for a page at offset lo without passing a row of the page: the
// step from, how many rows (live base rows and fresh rows merged) come
// before it, and the fresh row to merge next. Each base position's
// count is its place less the gone rows before it (gonePos) plus the
// fresh rows placed before it, so a binary search finds it.
func (x *extIndex) skip(col int, desc bool, fresh []*idxRow, lo int) (from, before, next int) {
	n, gonePos := x.base.n, x.gonePos[col]
	freshBelow := func(p int) int { // fresh rows placed before base position p
		return sort.Search(len(fresh), func(j int) bool { return fresh[j].pos[col] >= p })
	}
	freshAbove := func(p int) int { // fresh rows placed after base position p
		return len(fresh) - sort.Search(len(fresh), func(j int) bool { return fresh[j].pos[col] > p })
	}
	emitted := func(s int) int { // rows emitted before step s
		if !desc {
			gone, _ := slices.BinarySearch(gonePos, uint32(s))
			return s - gone + freshBelow(s)
		}
		// Step s visits position n-1-s: the base rows at n-s and above
		// came before it, and the fresh rows placed above n-s.
		gone, _ := slices.BinarySearch(gonePos, uint32(n-s))
		return s - (len(gonePos) - gone) + freshAbove(n-s)
	}
	// The last step whose count does not pass lo.
	from = sort.Search(n+1, func(s int) bool { return emitted(s) > lo }) - 1
	if from <= 0 {
		if desc {
			return 0, 0, len(fresh) - 1
		}
		return 0, 0, 0
	}
	if !desc {
		return from, emitted(from), freshBelow(from)
	}
	return from, emitted(from), len(fresh) - 1 - freshAbove(n-from)
}

// keep reports whether the row passes the lower-case filters (group,
// cluster, site at 1, 2, 3; empty means any).
func (r *idxRow) keep(want [4]string) bool {
	for i := 1; i < 4; i++ {
		if want[i] != "" && r.lower[i] != want[i] {
			return false
		}
	}
	return true
}
