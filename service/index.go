package service

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pbxtopo/pbxtopo/pbx"
	"github.com/pbxtopo/pbxtopo/store"
)

// extIndex is an in-memory index of the extensions for searches: each
// extension's key, number, name, group, cluster and site, kept up to date
// from the store's change log. A search scans this small slice instead of
// decoding every record, which keeps a search over 100,000 extensions in
// milliseconds with many clients at once.
type extIndex struct {
	mu    sync.Mutex // one refresh at a time
	state sync.RWMutex
	sum   store.Summary
	rows  map[string]*idxRow
	// words is every word of every row's text at the last rebuild, sorted,
	// for prefix lookups; rows changed since are in fresh and searched
	// one by one.
	words []wordRef
	fresh map[string]*idxRow
	// byCluster, byGroup and byBoth are the rows at the last rebuild by
	// lower-case cluster, group, and both ("cluster\x00group"), for
	// filtered listings without a search.
	byCluster, byGroup, byBoth map[string][]*idxRow
}

type wordRef struct {
	word string
	row  *idxRow
}

type idxRow struct {
	key, num, name, group, cluster, site string
	lower                                [4]string     // name, group, cluster, site, lower-cased
	sort                                 [6]naturalKey // key, num, name, group, cluster, site
	words                                []string      // the words a search matches, lower-cased
	gone                                 bool          // replaced or deleted since the last rebuild
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
		same := x.rows != nil && x.sum.Equal(now)
		x.state.RUnlock()
		if same {
			return nil
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	cr, ok := baseStore(st).(changeReader)
	if !ok {
		return x.rebuild(st)
	}
	if x.rows == nil {
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
	rows := map[string]*idxRow{}
	var sum store.Summary
	err := st.View(func(sn *store.Snapshot) error {
		var err error
		if sum, err = sn.Summary(); err != nil {
			return err
		}
		return sn.Scan(pbx.Extensions.Name, "", func(key string, v []byte) error {
			rows[key] = newIdxRow(key, v)
			return nil
		})
	})
	if err != nil {
		return err
	}
	var words []wordRef
	for _, r := range rows {
		for _, w := range r.words {
			words = append(words, wordRef{w, r})
		}
	}
	slices.SortFunc(words, func(a, b wordRef) int { return strings.Compare(a.word, b.word) })
	byCluster, byGroup, byBoth := map[string][]*idxRow{}, map[string][]*idxRow{}, map[string][]*idxRow{}
	for _, r := range rows {
		byCluster[r.lower[2]] = append(byCluster[r.lower[2]], r)
		byGroup[r.lower[1]] = append(byGroup[r.lower[1]], r)
		both := r.lower[2] + "\x00" + r.lower[1]
		byBoth[both] = append(byBoth[both], r)
	}
	x.state.Lock()
	x.rows, x.sum, x.words, x.fresh = rows, sum, words, map[string]*idxRow{}
	x.byCluster, x.byGroup, x.byBoth = byCluster, byGroup, byBoth
	x.state.Unlock()
	return nil
}

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
			updated[k] = newIdxRow(k, r.Value())
		}
		return nil
	})
	if err != nil {
		return err
	}
	x.state.Lock()
	for k, row := range updated {
		if old := x.rows[k]; old != nil {
			old.gone = true
		}
		if row == nil {
			delete(x.rows, k)
			delete(x.fresh, k)
		} else {
			x.rows[k] = row
			x.fresh[k] = row
		}
	}
	rebuild := len(x.fresh) > 5000
	x.state.Unlock()
	if rebuild { // too many rows to search one by one: index them again
		return x.rebuild(st)
	}
	return nil
}

func newIdxRow(key string, v []byte) *idxRow {
	get := func(f string) string { s, _ := pbx.LookupField(v, f); return s }
	r := &idxRow{key: key, num: get("regexten"), name: get("name"), group: get("astgroup"), cluster: get("cluster"), site: get("site")}
	r.lower = [4]string{strings.ToLower(r.name), strings.ToLower(r.group), strings.ToLower(r.cluster), strings.ToLower(r.site)}
	for i, v := range [6]string{r.key, r.num, r.name, r.group, r.cluster, r.site} {
		r.sort[i] = newNaturalKey(v)
	}
	seen := map[string]bool{}
	for _, f := range searchFields {
		if s, ok := pbx.LookupField(v, f); ok {
			for _, w := range searchWords(s) {
				if !seen[w] {
					seen[w] = true
					r.words = append(r.words, w)
				}
			}
		}
	}
	return r
}

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
	keep := func(r *idxRow) bool {
		for i := 1; i < 4; i++ {
			if want[i] != "" && r.lower[i] != want[i] {
				return false
			}
		}
		return true
	}
	query := searchWords(q.Search)
	var hits []*idxRow
	switch {
	case len(query) == 0 && (want[2] != "" || want[1] != ""):
		// The rows of the cluster (or group) at the last rebuild, then
		// the rows changed since.
		var base []*idxRow
		switch {
		case want[2] != "" && want[1] != "":
			base = x.byBoth[want[2]+"\x00"+want[1]]
		case want[2] != "":
			base = x.byCluster[want[2]]
		default:
			base = x.byGroup[want[1]]
		}
		for _, r := range base {
			if !r.gone && keep(r) {
				hits = append(hits, r)
			}
		}
		for _, r := range x.fresh {
			if keep(r) {
				hits = append(hits, r)
			}
		}
	case len(query) == 0:
		for _, r := range x.rows {
			if keep(r) {
				hits = append(hits, r)
			}
		}
	default:
		// The rows with a word starting with the rarest query word, from
		// the sorted words; then the other words and the filters.
		lo, hi := x.prefixRange(query[0])
		for _, w := range query[1:] {
			if l, h := x.prefixRange(w); h-l < hi-lo {
				lo, hi = l, h
			}
		}
		seen := map[*idxRow]bool{}
		for _, ref := range x.words[lo:hi] {
			r := ref.row
			if !r.gone && !seen[r] && keep(r) && r.matches(query) {
				seen[r] = true
				hits = append(hits, r)
			}
		}
		for _, r := range x.fresh {
			if !seen[r] && keep(r) && r.matches(query) {
				hits = append(hits, r)
			}
		}
	}
	col := indexedSorts[q.Sort]
	slices.SortFunc(hits, func(a, b *idxRow) int {
		c := a.sort[col].compare(b.sort[col])
		if c == 0 {
			c = a.sort[0].compare(b.sort[0])
		}
		if q.Desc {
			c = -c
		}
		return c
	})
	lo := min(max(q.Offset, 0), len(hits))
	hi := len(hits)
	if q.Limit > 0 {
		hi = min(lo+q.Limit, len(hits))
	}
	keys := make([]string, 0, hi-lo)
	for _, r := range hits[lo:hi] {
		keys = append(keys, r.key)
	}
	return keys, len(hits)
}

// prefixRange is the range of x.words that start with prefix.
func (x *extIndex) prefixRange(prefix string) (lo, hi int) {
	cmp := func(w wordRef, t string) int { return strings.Compare(w.word, t) }
	lo, _ = slices.BinarySearchFunc(x.words, prefix, cmp)
	hi = lo + sort.Search(len(x.words)-lo, func(i int) bool { return !strings.HasPrefix(x.words[lo+i].word, prefix) })
	return lo, hi
}
